"""GaiaRouter's Messages API through the official Anthropic Python SDK, against the real server.

Usage: python3 tests/sdk/anthropic_sdk.py BASE_URL ADMIN_USERNAME ADMIN_PASSWORD UPSTREAM_URL CREDENTIAL
UPSTREAM_URL is a running `fake_upstream` (src/bin/fake_upstream.rs) and CREDENTIAL the
name of the gateway's credential for it (e.g. `env:FAKE_UPSTREAM_KEY`). Creates three
routes over it — Anthropic (body passed through), OpenAI and Gemini (translated) — and
checks on each what an SDK user sees: a message, a streamed message (text_stream and
get_final_message), a tool call streamed (input_json events, the final tool_use input),
a tool result answered, count_tokens; then errors raised as the SDK's own exception
types (401, 429). The fake calls the first tool offered with {"city": "Paris"} unless
the last turn is a tool result, and otherwise answers "Hello from the fake upstream.".
Prints one line per check and ends with "anthropic-sdk: N passed, M failed".
"""

import json
import sys
import time
import traceback

import anthropic
from anthropic import Anthropic

from checks import Checks, admin_api

base, username, password, upstream, credential = sys.argv[1:6]
admin = admin_api(base)
TEXT = "Hello from the fake upstream."
WEATHER = {"city": "Paris"}
TOOLS = [
    {
        "name": "get_weather",
        "description": "The current weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
# Unique per run (the TypeScript check creates its own routes on the same server), and
# leading: a route named like a built-in model id (`gemini-...`) is refused.
prefix = f"sdk-py-{int(time.time())}"




checks = Checks("anthropic-sdk")
check = checks.check


def attempt(name, run):
    """Runs one check; an exception is that check's failure, not the script's end."""
    try:
        run()
    except Exception as error:  # noqa: BLE001 - any error is this check's failure
        check(name, False, f"{type(error).__name__}: {error}")
        traceback.print_exc(limit=2, file=sys.stdout)


token = admin("/v1/auth/login", {"username": username, "password": password})["access_token"]
routes = {
    "anthropic": {"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": upstream},
    "openai": {"provider": "openai", "model": "gpt-4o-mini", "base_url": upstream + "/v1"},
    "gemini": {"provider": "google", "model": "gemini-2.5-flash", "base_url": upstream},
}
for kind, deployment in routes.items():
    admin("/v1/routes", {"name": f"{prefix}-{kind}", "deployments": [dict(deployment, credential=credential)]}, token)
org = admin("/v1/organizations", {"name": f"Anthropic SDK {prefix}"}, token)["id"]
key = admin("/v1/api-keys", {"organization_id": org, "name": "anthropic-sdk", "permission": "read"}, token)["key"]
client = Anthropic(base_url=base, api_key=key, max_retries=0, timeout=30)


def text_of(message):
    return "".join(block.text for block in message.content if block.type == "text")


def tool_use_of(message):
    return next((block for block in message.content if block.type == "tool_use"), None)


for kind in routes:
    model = f"{prefix}-{kind}"

    def plain():
        message = client.messages.create(model=model, max_tokens=256, messages=QUESTION)
        check(
            f"{kind}: messages.create answers text",
            text_of(message) == TEXT and message.stop_reason == "end_turn" and message.model == model,
            message,
        )
        check(
            f"{kind}: messages.create usage",
            message.usage.input_tokens > 0 and message.usage.output_tokens > 0,
            message.usage,
        )

    def streamed():
        with client.messages.stream(model=model, max_tokens=256, messages=QUESTION) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
        check(f"{kind}: messages.stream text_stream", "".join(pieces) == TEXT and len(pieces) > 1, pieces)
        check(
            f"{kind}: messages.stream get_final_message",
            text_of(final) == TEXT and final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and final.model == model,
            final,
        )

    def tool_round():
        with client.messages.stream(model=model, max_tokens=256, messages=QUESTION, tools=TOOLS) as stream:
            partial = [event.partial_json for event in stream if event.type == "input_json"]
            final = stream.get_final_message()
        call = tool_use_of(final)
        check(
            f"{kind}: streamed tool call input",
            call is not None and call.name == "get_weather" and call.input == WEATHER and final.stop_reason == "tool_use",
            final,
        )
        check(f"{kind}: streamed tool call input_json events", len(partial) > 0 and json.loads("".join(partial)) == WEATHER, partial)
        if call is None:
            return
        answered = client.messages.create(
            model=model,
            max_tokens=256,
            tools=TOOLS,
            messages=QUESTION
            + [
                {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in final.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18°C, sunny"}]},
            ],
        )
        check(f"{kind}: a tool result is answered", text_of(answered) == TEXT and answered.stop_reason == "end_turn", answered)

    def tool_call():
        message = client.messages.create(model=model, max_tokens=256, messages=QUESTION, tools=TOOLS)
        call = tool_use_of(message)
        check(
            f"{kind}: messages.create tool call",
            call is not None and call.name == "get_weather" and call.input == WEATHER and message.stop_reason == "tool_use",
            message,
        )

    def count():
        counted = client.messages.count_tokens(model=model, messages=QUESTION, tools=TOOLS)
        check(f"{kind}: messages.count_tokens", isinstance(counted.input_tokens, int) and counted.input_tokens > 0, counted)

    for name, run in [("create", plain), ("stream", streamed), ("tool round", tool_round), ("tool call", tool_call), ("count_tokens", count)]:
        attempt(f"{kind}: {name}", run)


def wrong_key():
    wrong = Anthropic(base_url=base, api_key="gr-wrong-key", max_retries=0, timeout=30)
    try:
        wrong.messages.create(model=f"{prefix}-anthropic", max_tokens=16, messages=QUESTION)
        check("a wrong key raises AuthenticationError", False, "no error")
    except anthropic.AuthenticationError as error:
        check(
            "a wrong key raises AuthenticationError",
            error.status_code == 401 and error.body["type"] == "error" and error.body["error"]["type"] == "authentication_error",
            error.body,
        )


def limited():
    org = admin("/v1/organizations", {"name": f"Anthropic SDK limited {prefix}", "limits": {"monthly_requests": 1}}, token)["id"]
    key = admin("/v1/api-keys", {"organization_id": org, "name": "limited", "permission": "read"}, token)["key"]
    limited = Anthropic(base_url=base, api_key=key, max_retries=0, timeout=30)
    limited.messages.create(model=f"{prefix}-openai", max_tokens=16, messages=QUESTION)
    try:
        for _ in range(3):
            limited.messages.create(model=f"{prefix}-openai", max_tokens=16, messages=QUESTION)
        check("an exhausted limit raises RateLimitError", False, "no error")
    except anthropic.RateLimitError as error:
        check(
            "an exhausted limit raises RateLimitError",
            error.status_code == 429 and error.body["error"]["type"] == "rate_limit_error",
            error.body,
        )


attempt("a wrong key raises AuthenticationError", wrong_key)
attempt("an exhausted limit raises RateLimitError", limited)

checks.finish()
