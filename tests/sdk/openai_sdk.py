"""GaiaRouter through the official OpenAI Python SDK, against the real server.

Usage: python3 tests/sdk/openai_sdk.py BASE_URL ADMIN_USERNAME ADMIN_PASSWORD
Creates an organization, a key and a route over the built-in echo provider, then
checks what an SDK user sees: plain and streamed completions (with usage), the
model list, a route, and errors raised as the SDK's own exception types.
Prints one line per check and ends with "sdk: N passed, M failed".
"""

import sys

from openai import APIStatusError, BadRequestError, NotFoundError, OpenAI, RateLimitError

from checks import Checks, admin_api

base, username, password = sys.argv[1], sys.argv[2], sys.argv[3]
admin = admin_api(base)




token = admin("/v1/auth/login", {"username": username, "password": password})["access_token"]
org = admin("/v1/organizations", {"name": "SDK Org", "limits": {"monthly_requests": 8}}, token)["id"]
key = admin("/v1/api-keys", {"organization_id": org, "name": "sdk", "permission": "read"}, token)["key"]
admin("/v1/routes", {"name": "sdk-route", "deployments": [{"provider": "echo", "model": "one"}]}, token)
client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)

checks = Checks("sdk")
check = checks.check


answer = client.chat.completions.create(model="echo/sdk", messages=[{"role": "user", "content": "hello sdk"}])
check("plain completion", answer.choices[0].message.content == "hello sdk", answer)
check("usage", answer.usage is not None and answer.usage.total_tokens > 0, answer.usage)

parts, usage = [], None
for chunk in client.chat.completions.create(
    model="echo/sdk",
    messages=[{"role": "user", "content": "stream me please"}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.choices:
        parts.append(chunk.choices[0].delta.content or "")
    if chunk.usage:
        usage = chunk.usage
check("streamed completion", "".join(parts) == "stream me please", parts)
check("streamed usage", usage is not None and usage.total_tokens > 0, usage)

routed = client.chat.completions.create(model="sdk-route", messages=[{"role": "user", "content": "routed"}])
check("a route answers", routed.choices[0].message.content == "routed" and routed.model == "sdk-route", routed)
ids = [m.id for m in client.models.list().data]
check("models list the route first", ids[:1] == ["sdk-route"], ids)

try:
    client.chat.completions.create(model="x" * 300, messages=[{"role": "user", "content": "hi"}])
    check("an over-long model is a 400", False, "no error")
except BadRequestError as error:
    check("an over-long model is a 400", error.body.get("param") == "model", error.body)
try:
    client.chat.completions.create(model="nobody/none", messages=[{"role": "user", "content": "hi"}])
    check("an unknown model is a 404", False, "no error")
except NotFoundError as error:
    check("an unknown model is a 404", error.body.get("code") == "model_not_found", error.body)
try:
    for _ in range(8):
        client.chat.completions.create(model="echo/sdk", messages=[{"role": "user", "content": "again"}])
    check("a limit is a 429", False, "no error")
except RateLimitError as error:
    check("a limit is a 429", error.body.get("code") == "organization_monthly_requests_limit", error.body)
except APIStatusError as error:
    check("a limit is a 429", False, error)

checks.finish()
