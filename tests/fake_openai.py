"""A tiny OpenAI-compatible chat endpoint on loopback: the true boundary of OpenAIGenerator.

Plain requests get the scripted `reply`. Requests that ask for JSON by schema (the LLM graph
extractor's) get `extraction_reply` of their last message, a small knowledge graph derived
from the text alone, so every run over the same chunks answers the same. `delay_s` makes each
answer slow, for tests that must catch a run in the middle; `token_delay_s` spaces the streamed
words, so a client can be seen receiving an answer piece by piece.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_NAME = re.compile(r"\b[A-Z][A-Za-z0-9-]{2,40}|[\u3400-\u9fff]{2,6}")


def extraction_reply(text: str) -> str:
    """JSON in the LLM extractor's schema: the first three distinct capitalised (or CJK) words
    of `text` as entities, the first two of them related."""
    names = list(dict.fromkeys(m.group() for m in _NAME.finditer(text)))[:3] or ["Untitled"]
    entities = [
        {"name": n, "type": "concept", "description": f"named in: {text[:40]}"} for n in names
    ]
    relations = [
        {"source": names[0], "target": names[1], "description": "mentioned together",
         "keywords": ["near"], "strength": 5}
    ] if len(names) > 1 else []  # fmt: skip
    return json.dumps({"entities": entities, "relations": relations}, ensure_ascii=False)


class FakeOpenAI:
    def __init__(self, reply: str, delay_s: float = 0.0, token_delay_s: float = 0.0) -> None:
        self.reply, self.delay_s, self.token_delay_s = reply, delay_s, token_delay_s
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def extraction_texts(self) -> list[str]:
        """The texts of the schema-constrained (graph extraction) requests so far, in order."""
        with self._lock:
            return [r["messages"][-1]["content"] for r in self.requests if "response_format" in r]


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.record(body)
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            time.sleep(state.delay_s)
            if "response_format" in body:
                words = [extraction_reply(body["messages"][-1]["content"])]
            else:
                words = [w + " " for w in state.reply.split(" ")[: body.get("max_tokens") or None]]
            with suppress(BrokenPipeError, ConnectionResetError):  # a client killed mid-reply
                self._stream(body["model"], words)

        def _stream(self, model: str, words: list[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in words:
                chunk = {
                    "id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }  # fmt: skip
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                if state.token_delay_s:
                    self.wfile.flush()
                    time.sleep(state.token_delay_s)
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@contextmanager
def fake_openai(
    reply: str, *, delay_s: float = 0.0, token_delay_s: float = 0.0
) -> Iterator[tuple[str, FakeOpenAI]]:
    """Serve on 127.0.0.1 (a free port); yields the base URL and the recorded requests."""
    state = FakeOpenAI(reply, delay_s, token_delay_s)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()
