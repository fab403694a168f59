"""A scripted Anthropic upstream for trying Claude Code through GaiaRouter: when the
conversation's last user turn has no tool_result and tools are offered, it calls Bash
(`echo gaia-tool-ok`); after a tool_result it answers with the result's text."""
import json, sys, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = open("/tmp/ccfake/requests.log", "a")

def last_tool_result(body):
    msgs = body.get("messages", [])
    if not msgs: return None
    content = msgs[-1].get("content")
    if isinstance(content, list):
        for b in content:
            if b.get("type") == "tool_result":
                c = b.get("content")
                if isinstance(c, list):
                    c = " ".join(x.get("text", "") for x in c)
                return c or ""
    return None

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        LOG.write(json.dumps({"path": self.path, "tools": [t.get("name") for t in body.get("tools", [])][:5],
                              "n_messages": len(body.get("messages", [])), "stream": body.get("stream")}) + "\n"); LOG.flush()
        if self.path.endswith("/count_tokens"):
            return self.send_json({"input_tokens": 42})
        tools = [t.get("name") for t in body.get("tools", [])]
        result = last_tool_result(body)
        if "Bash" in tools and result is None:
            blocks = [{"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": "Bash",
                       "input": {"command": "echo gaia-tool-ok", "description": "Print a marker"}}]
            stop = "tool_use"
        else:
            text = f"Tool said: {result.strip()}" if result is not None else "Hello from the fake Claude."
            blocks = [{"type": "text", "text": text}]
            stop = "end_turn"
        usage = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
        msg = {"id": "msg_" + uuid.uuid4().hex, "type": "message", "role": "assistant", "model": body.get("model"),
               "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            return self.send_json(msg)
        self.send_response(200); self.send_header("content-type", "text/event-stream"); self.end_headers()
        def ev(name, data):
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()); self.wfile.flush()
        start = dict(msg, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
        ev("message_start", {"type": "message_start", "message": start})
        for i, b in enumerate(blocks):
            if b["type"] == "text":
                ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})
                ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": b["text"]}})
            else:
                ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": dict(b, input={})})
                s = json.dumps(b["input"])
                for j in range(0, len(s), 10):
                    ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": s[j:j+10]}})
            ev("content_block_stop", {"type": "content_block_stop", "index": i})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 20}})
        ev("message_stop", {"type": "message_stop"})
    def send_json(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data))); self.end_headers(); self.wfile.write(data)

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
