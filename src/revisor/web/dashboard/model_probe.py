"""The models page's "Test" button: one fixed prompt to one endpoint, timed.

Why a prompt and not only `GET /models`: an endpoint can list its model and still fail to
answer (wrong chat template, out of memory, a proxy that times out long requests). The prompt
is owned by the appliance, harmless and tiny (max 32 tokens back), goes to the chosen endpoint
only (no router, no fallback: the admin asked about *that* endpoint), once (no retries) and with
a short timeout, so a dead endpoint answers in seconds, not after the worker's backoff budget.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from revisor.domain import ChatMessage
from revisor.egress import Egress
from revisor.errors import RevisorError
from revisor.llm.client import Endpoint, EndpointClient, RequestOptions, RetryPolicy

PROMPT = (
    ChatMessage("system", "You are a health check."),
    ChatMessage("user", 'Answer with the JSON {"ok": true}'),
)
MAX_TOKENS = 32
TIMEOUT_SECONDS = 20.0
ANSWER_CHARS = 200  # shown on the page; never written to the audit log


@dataclass(frozen=True)
class ProbeResult:
    endpoint: str
    ok: bool
    latency_ms: int
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    answer: str = ""  # the first ANSWER_CHARS characters, for the page only
    error: str = ""  # a message an admin can act on


def probe(endpoint: Endpoint, egress: Egress, *, timeout: float = TIMEOUT_SECONDS) -> ProbeResult:
    """Send PROMPT to `endpoint` once. Never raises a `RevisorError`: failures are results."""
    started = time.monotonic()
    short = dataclasses.replace(endpoint, timeout_seconds=min(endpoint.timeout_seconds, timeout))
    try:
        client = EndpointClient(
            short,
            egress,
            options=RequestOptions(temperature=0.0, structured_output="json_object"),
            retry=RetryPolicy(max_attempts=1, max_total_seconds=timeout),
        )
        try:
            completion = client.complete(PROMPT, max_tokens=MAX_TOKENS, json_mode=True)
        finally:
            client.close()
    except RevisorError as exc:
        latency = int((time.monotonic() - started) * 1000)
        return ProbeResult(endpoint.id, ok=False, latency_ms=latency, error=str(exc))
    return ProbeResult(
        endpoint.id,
        ok=True,
        latency_ms=completion.usage.latency_ms,
        model=completion.model,
        prompt_tokens=completion.usage.prompt_tokens,
        completion_tokens=completion.usage.completion_tokens,
        answer=completion.text[:ANSWER_CHARS],
    )
