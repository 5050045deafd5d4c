"""A fake OpenAI-compatible endpoint (chat completions + models) on 127.0.0.1.

Built on the forge fakes' `FakeServer` (real sockets, fault injection, request log). It checks
the bearer key like llama.cpp/vLLM do (401), serves one model id (404 for another, like vLLM),
records every chat request body, and counts requests in flight so concurrency limits can be
asserted.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from revisor.review.prompt import read_prompt
from tests.fakes.server import FakeServer, Request, Response, json_response, text_response


def is_verification(messages: Any) -> bool:
    """Whether a chat request is Revisor's verification call (its own system prompt)."""
    return (
        isinstance(messages, list)
        and bool(messages)
        and isinstance(messages[0], dict)
        and messages[0].get("content") == read_prompt("verify_system.txt").strip()
    )


class FakeOpenAI(FakeServer):
    def __init__(self, *, model: str = "m1", api_key: str | None = "sk-test", delay: float = 0.0):
        super().__init__()
        self.model = model
        self.api_key = api_key
        self.delay = delay
        self.reply = '{"findings": []}'
        # The answer to Revisor's verification prompt (review.verify), kept apart from `reply`
        self.verdict = '{"verdict": "real", "reason": "the fake agrees"}'
        self.verifications = 0
        self.garble = False  # answer an HTML page instead of JSON (a proxy in the way)
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()
        self.route("POST", r"/v1/chat/completions", self._chat)
        self.route("GET", r"/v1/models", self._models)

    def authenticate(self, request: Request) -> Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return json_response({"error": {"message": "Invalid API Key", "code": 401}}, 401)
        return None

    def _models(self, request: Request) -> Response:
        return json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    def _chat(self, request: Request) -> Response:
        body = request.json()
        with self._count_lock:
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                self._release.wait(self.delay)
            if self.garble:
                return text_response("<html>bad gateway</html>", content_type="text/html")
            if body.get("model") != self.model:
                msg = f"The model `{body.get('model')}` does not exist."
                return json_response({"error": {"message": msg, "code": 404}}, 404)
            content = self.reply
            if is_verification(body.get("messages")):
                content = self.verdict
                with self._count_lock:
                    self.verifications += 1
            return json_response(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": self.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
                }
            )
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def reset(self) -> None:
        """Forget requests and faults, so one server can serve a whole test module."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()
        self.bodies.clear()
        self.max_in_flight = 0
        self.garble = False
        self.delay = 0.0
        self.api_key = "sk-test"

    def chat_count(self) -> int:
        return self.count("POST", "/chat/completions")

    def last_body(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.bodies[-1]))
