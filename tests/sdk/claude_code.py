"""Claude Code (the real CLI, from npm) against GaiaRouter's /v1/messages, with tool use.

Usage: python3 tests/sdk/claude_code.py BASE_URL ADMIN_USERNAME ADMIN_PASSWORD CREDENTIAL CLAUDE_BIN UPSTREAM_URL
Starts a scripted Anthropic upstream in this process: while the conversation's last
turn is not a tool result and Claude Code offers its Bash tool, it calls Bash with
`echo gaia-tool-ok` (streamed as input_json_delta pieces); after the tool result it
answers "Tool said: <the result>". A route over it is what Claude Code uses
(ANTHROPIC_MODEL). Claude Code then runs headless (`-p`, Bash allowed only for `echo`),
really executes the command, and sends the result back through the gateway.
Then Claude Code runs once more on a route to an OpenAI deployment (UPSTREAM_URL, a
running fake_upstream): its requests, with Anthropic-only context hints, are translated
to chat completions and the answer back.
Prints one line per check and ends with "claude-code: N passed, M failed".
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from checks import Checks, admin_api

base, username, password, credential, claude, openai_upstream = sys.argv[1:7]
admin = admin_api(base)
seen = []


def tool_result_text(body):
    messages = body.get("messages") or []
    content = messages[-1].get("content") if messages else None
    if isinstance(content, list):
        for block in content:
            if block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = " ".join(part.get("text", "") for part in inner)
                return inner or ""
    return None


class Upstream(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        seen.append({"path": self.path, "key": self.headers.get("x-api-key"), "body": body})
        if self.path.endswith("/count_tokens"):
            return self.json({"input_tokens": 42})
        tools = [tool.get("name") for tool in body.get("tools") or []]
        result = tool_result_text(body)
        if "Bash" in tools and result is None:
            blocks = [{"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": "Bash",
                       "input": {"command": "echo gaia-tool-ok", "description": "Print a marker"}}]
            stop = "tool_use"
        else:
            said = f"Tool said: {result.strip()}" if result is not None else "Hello from the scripted Claude."
            blocks = [{"type": "text", "text": said}]
            stop = "end_turn"
        usage = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 0,
                 "cache_creation_input_tokens": 0}
        message = {"id": "msg_" + uuid.uuid4().hex, "type": "message", "role": "assistant",
                   "model": body.get("model"), "content": blocks, "stop_reason": stop,
                   "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            return self.json(message)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()

        def event(name, data):
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        start = dict(message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
        event("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                event("content_block_start", {"type": "content_block_start", "index": index,
                                              "content_block": {"type": "text", "text": ""}})
                event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "text_delta", "text": block["text"]}})
            else:
                event("content_block_start", {"type": "content_block_start", "index": index,
                                              "content_block": dict(block, input={})})
                text = json.dumps(block["input"])
                for at in range(0, len(text), 10):
                    event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "input_json_delta", "partial_json": text[at:at + 10]}})
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                "usage": {"output_tokens": 20}})
        event("message_stop", {"type": "message_stop"})

    def json(self, value):
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)




checks = Checks("claude-code")
check = checks.check


server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
threading.Thread(target=server.serve_forever, daemon=True).start()
upstream = f"http://127.0.0.1:{server.server_address[1]}"

token = admin("/v1/auth/login", {"username": username, "password": password})["access_token"]
org = admin("/v1/organizations", {"name": f"Claude Code {int(time.time())}"}, token)["id"]
key = admin("/v1/api-keys", {"organization_id": org, "name": "claude-code", "permission": "write"}, token)["key"]
route = f"cc-{int(time.time())}"
admin("/v1/routes", {"name": route, "deployments": [{"provider": "anthropic", "model": "claude-scripted",
                                                      "base_url": upstream, "credential": credential}]}, token)



def claude_code(model, prompt):
    """Runs Claude Code headless on `model`; answers the process and its JSON result."""
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, HOME=home, ANTHROPIC_BASE_URL=base, ANTHROPIC_API_KEY=key, ANTHROPIC_MODEL=model,
                   ANTHROPIC_SMALL_FAST_MODEL=model, DISABLE_TELEMETRY="1", DISABLE_AUTOUPDATER="1",
                   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
        run = subprocess.run([claude, "-p", prompt, "--allowedTools", "Bash(echo:*)", "--output-format", "json"],
                             cwd=work, env=env, capture_output=True, text=True, timeout=180)
    try:
        return run, json.loads(run.stdout)
    except ValueError:
        return run, {}


run, result = claude_code(route, "Run a command that prints a marker")
check("claude exits 0", run.returncode == 0, run.stderr[-2000:] or run.stdout[-2000:])
check("claude reports success", result.get("is_error") is False, json.dumps(result)[:1000])
check("the tool ran and its result came back through the gateway",
      result.get("result") == "Tool said: gaia-tool-ok", result.get("result"))
turns = [s for s in seen if s["path"] == "/v1/messages"]
check("two turns reached the upstream with the gateway's key, not the client's",
      len(turns) >= 2 and all(s["key"] != key for s in turns), [(s["path"], s["key"] == key) for s in seen])
check("the tool_result went back with the id Claude Code got",
      len(turns) >= 2 and tool_result_text(turns[-1]["body"]) is not None, "")

time.sleep(1.5)  # the request log is a projection
rows = admin(f"/v1/logs?ingress=messages&model={route}&limit=10", None, token, "GET")["data"]
# Requests GaiaRouter refused before any provider are in the log too (status "refused").
served = [r for r in rows if r["status"] != "refused"]
for r in rows:
    if r["status"] == "refused":
        print(f"note  Claude Code sent a request GaiaRouter refused: {r['http_status']} {r['error_kind']}: "
              f"{(r.get('error_message') or '')[:300]}")
check("every turn is recorded with the messages ingress",
      len(served) >= 2 and all(r["status"] == "success" and r["ingress"] == "messages" for r in served),
      [(r["status"], r["ingress"], r["error_kind"]) for r in rows])

openai_route = f"cc-openai-{int(time.time())}"
admin("/v1/routes", {"name": openai_route, "deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                     "base_url": openai_upstream + "/v1", "credential": credential}]}, token)
run, result = claude_code(openai_route, "Say hello")
check("on an OpenAI deployment, claude exits 0 and reports success",
      run.returncode == 0 and result.get("is_error") is False, run.stderr[-2000:] or run.stdout[-2000:])
check("on an OpenAI deployment, the translated answer reaches Claude Code",
      result.get("result") == "Hello from the fake upstream.", result.get("result"))
server.shutdown()
checks.finish()
