"""A local OpenAI-compatible chat endpoint for tests: real HTTP, real SSE, no model.

It answers `POST /v1/chat/completions` (streamed or not) with one sentence that names the
reply's first pick as the recommend prompt gives it, so the writer keeps it. Tests that go
through the real client stack (settings → `ChatOpenAI` → openai → httpx) use it: a set of
libraries that cannot talk to each other fails there, as it would for a user.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SENTENCE = "Good fun, starting with {first}."


def _answer(body: dict) -> str:
    last = str(body["messages"][-1].get("content", ""))
    found = re.search(r"First pick: (.+?) \|", last)
    return SENTENCE.format(first=found.group(1) if found else "a comedy")


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict]

    def log_message(self, format: str, *args: object) -> None:  # quiet: pytest shows stderr on failure
        pass

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "tests"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.requests.append(body)
        text = _answer(body)
        if not body.get("stream"):
            self._json(
                {
                    "id": "stub-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "stub"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                }
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        words = text.split(" ")
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        for piece, finish in [*((p, None) for p in pieces), ("", "stop")]:
            delta = {"content": piece} if piece else {}
            chunk = {
                "id": "stub-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model", "stub"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def openai_stub() -> Iterator[tuple[str, list[dict]]]:
    """(base_url, the request bodies it received) of a stub endpoint on a free loopback port."""
    requests: list[dict] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    finally:
        server.shutdown()
        server.server_close()
