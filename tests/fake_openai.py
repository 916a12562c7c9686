"""A local HTTP server speaking the OpenAI chat-completions protocol, scripted by the test.

    with FakeOpenAI() as server:
        server.reply("a caption")                       # plain assistant message
        server.reply_tool("search", {"query": "x"})     # a tool call
        server.fail(503)                                # an error status
        server.stall(2.0)                               # answer after a delay (timeouts)
        cfg = LLMConfig(base_url=server.url, model="test")
Unscripted requests get ``default`` (a function of the request body) or a 500.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI"]


def completion(message: dict[str, Any], usage: tuple[int, int] = (10, 5)) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "test",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


class FakeOpenAI:
    def __init__(self, default: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[tuple[int, Any, float]] = deque()
        self.default = default
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                status, payload, delay = fake._next(body)
                time.sleep(delay)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _next(self, body: dict[str, Any]) -> tuple[int, Any, float]:
        if self.script:
            return self.script.popleft()
        if self.default is not None:
            return 200, self.default(body), 0.0
        return 500, {"error": {"message": "nothing scripted"}}, 0.0

    def reply(self, content: str, usage: tuple[int, int] = (10, 5)) -> None:
        self.script.append((200, completion({"role": "assistant", "content": content}, usage), 0.0))

    def reply_tool(self, name: str, arguments: dict[str, Any] | str, call_id: str = "call_1") -> None:
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        msg = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}],
        }
        self.script.append((200, completion(msg), 0.0))

    def fail(self, status: int, times: int = 1) -> None:
        for _ in range(times):
            self.script.append((status, {"error": {"message": f"status {status}"}}, 0.0))

    def raw(self, payload: bytes | dict[str, Any], status: int = 200) -> None:
        self.script.append((status, payload, 0.0))

    def stall(self, seconds: float, content: str = "late") -> None:
        self.script.append((200, completion({"role": "assistant", "content": content}), seconds))

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
