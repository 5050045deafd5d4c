"""OpenAI-compatible chat completions over httpx: one endpoint, retries, and a router over several.

`EndpointClient` talks to one endpoint (`POST {base}/chat/completions`). It retries what is worth
retrying (connection refused, timeouts, 5xx, 429 with its Retry-After) with exponential backoff and
jitter, bounded in attempts *and* total time, and translates everything else into an error an
admin can act on: retryable -> `ModelUnavailable` (the job is retried later), 401/403/404/400 ->
`ModelError`. A `BoundedSemaphore` per endpoint caps the requests in flight to what the endpoint
really serves (llama-cpp-python: 1; vLLM: many), and is held only while a request is on the wire,
never while backing off.

`Router` implements the `ChatModel` protocol of `revisor.domain`: it picks an endpoint by the
routing rules (repository, sensitivity, diff size) and falls back to a second endpoint when the
chosen one is unavailable.

Every HTTP attempt is reported to `on_usage` (model, endpoint, tokens, latency, ok). Nothing here
logs or reports prompt text, code or API keys.
"""

from __future__ import annotations

import copy
import fnmatch
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from revisor.backoff import backoff
from revisor.domain import ChatMessage, Completion, RouteHints, Usage, UsageRecord
from revisor.egress import Egress, parse_retry_after
from revisor.errors import ConfigError, ModelError, ModelUnavailable

log = logging.getLogger("revisor.llm")


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible endpoint. `url` is the API base, e.g. `http://127.0.0.1:8081/v1`."""

    id: str
    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    max_concurrency: int = 1
    context_tokens: int = 8192
    timeout_seconds: float = 300.0
    ca_file: str | None = None
    # "llama.cpp" for llama-cpp-python's server, whose JSON-schema mode is spelled differently.
    engine: str = ""


def normalize_base_url(url: str) -> str:
    """Accept `http://h:p`, `http://h:p/` or `http://h:p/v1`; return the `/v1` API base."""
    base = url.strip().rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Overall budget for one `complete()` call, waiting for a slot, requests and sleeps included.
    max_total_seconds: float = 900.0
    # A Retry-After longer than this is not waited for here: the job is retried later instead.
    max_retry_after: float = 120.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        """Backoff before attempt `attempt + 1`: exponential, capped, with 50-100% jitter."""
        return backoff(max(1, attempt), self.base_delay, self.max_delay, jitter=rng)


UsageCallback = Callable[[UsageRecord], None]


@dataclass(frozen=True)
class RequestOptions:
    temperature: float = 0.1
    seed: int | None = 0  # None: the engine picks one per request
    structured_output: str = "json_object"  # or "json_schema" (needs `json_schema`)
    json_schema: Mapping[str, Any] | None = None


class _Retry(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def request_body(
    model: str,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int,
    json_mode: bool,
    options: RequestOptions,
    engine: str = "",
) -> dict[str, Any]:
    """The request body. JSON-schema mode is spelled the OpenAI/vLLM way
    (`{"type": "json_schema", "json_schema": {...}}`) except for llama-cpp-python, whose server
    only knows `{"type": "json_object", "schema": {...}}` (it answers 422 to the other)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": max_tokens,
        "temperature": options.temperature,
        "stream": False,
    }
    if options.seed is not None:
        body["seed"] = options.seed
    if json_mode:
        schema = options.json_schema
        if (
            options.structured_output == "json_schema"
            and schema is not None
            and engine == "llama.cpp"
        ):
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif options.structured_output == "json_schema" and schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "review", "strict": True, "schema": schema},
            }
        else:
            body["response_format"] = {"type": "json_object"}
    return body


class EndpointClient:
    """One endpoint: request building, retries, error translation, concurrency limit."""

    def __init__(
        self,
        endpoint: Endpoint,
        egress: Egress,
        *,
        options: RequestOptions | None = None,
        retry: RetryPolicy | None = None,
        on_usage: UsageCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if endpoint.max_concurrency < 1:
            raise ConfigError(f"model endpoint {endpoint.id!r}: max_concurrency must be >= 1")
        self.endpoint = endpoint
        self.options = options or RequestOptions()
        self.retry = retry or RetryPolicy()
        self._on_usage = on_usage
        self._sleep = sleep
        self._rng = rng
        self._slots = threading.BoundedSemaphore(endpoint.max_concurrency)
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._http = egress.client(
            normalize_base_url(endpoint.url),
            purpose=f"model endpoint {endpoint.id}",
            ca_file=endpoint.ca_file,
            timeout=endpoint.timeout_seconds,
            headers=headers,
        )

    @property
    def concurrency(self) -> int:
        return self.endpoint.max_concurrency

    def close(self) -> None:
        self._http.close()

    def metered(self, on_usage: UsageCallback) -> EndpointClient:
        """A view of this client that reports usage to `on_usage`: it shares the HTTP client
        and the request slots, so the endpoint's `max_concurrency` holds across all views."""
        view = copy.copy(self)
        view._on_usage = on_usage
        return view

    def models(self, timeout: float = 3.0) -> list[str]:
        """Model ids the endpoint serves (`GET /models`): the health check. Raises like complete."""
        try:
            response = self._http.get("models", timeout=timeout)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(
                f"model endpoint {self.endpoint.id}: {_describe(exc)}", endpoint=self.endpoint.id
            ) from None
        self._raise_for_status(response)
        try:
            return [str(m["id"]) for m in response.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ModelError(
                f"model endpoint {self.endpoint.id}: /models did not answer OpenAI-style JSON",
                endpoint=self.endpoint.id,
            ) from None

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
        retry: RetryPolicy | None = None,
    ) -> Completion:
        policy = retry or self.retry
        body = request_body(
            self.endpoint.model, messages, max_tokens=max_tokens, json_mode=json_mode,
            options=self.options, engine=self.endpoint.engine,
        )  # fmt: skip
        started = time.monotonic()
        deadline = started + policy.max_total_seconds
        last = "no attempt made"
        last_retry_after: float | None = None
        for attempt in range(1, policy.max_attempts + 1):
            try:
                return self._attempt(body, deadline)
            except _Retry as exc:
                last, last_retry_after = exc.reason, exc.retry_after
            if attempt == policy.max_attempts:
                break
            delay = policy.delay(attempt, self._rng)
            if last_retry_after is not None:
                if last_retry_after > policy.max_retry_after:
                    break  # not worth blocking a worker: the job is retried later
                delay = max(delay, last_retry_after)
            if time.monotonic() + delay >= deadline:
                break
            log.warning(
                "model endpoint %s: %s; retry %d/%d in %.1fs",
                self.endpoint.id, last, attempt + 1, policy.max_attempts, delay,
            )  # fmt: skip
            self._sleep(delay)
        raise ModelUnavailable(
            f"model endpoint {self.endpoint.id} unavailable: {last} "
            f"(after {attempt} attempt(s), {time.monotonic() - started:.1f}s)",
            retry_after=last_retry_after,
            endpoint=self.endpoint.id,
        )

    def _attempt(self, body: dict[str, Any], deadline: float) -> Completion:
        wait = deadline - time.monotonic()
        if wait <= 0 or not self._slots.acquire(timeout=wait):
            raise _Retry("no free request slot before the deadline")
        started = time.monotonic()
        try:
            response = self._http.post("chat/completions", json=body)
        except httpx.HTTPError as exc:
            self._report(0, 0, started, ok=False, error=type(exc).__name__)
            raise _Retry(_describe(exc)) from None
        finally:
            self._slots.release()
        if response.status_code != 200:
            self._report(0, 0, started, ok=False, error=f"HTTP {response.status_code}")
        self._raise_for_status(response)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            finish = str(choice.get("finish_reason") or "stop")
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
            model = str(data.get("model") or self.endpoint.model)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            self._report(0, 0, started, ok=False, error="bad response")
            raise _Retry("answer is not an OpenAI chat completion") from None
        latency = self._report(prompt_tokens, completion_tokens, started, ok=True, model=model)
        return Completion(
            text=text,
            model=model,
            endpoint=self.endpoint.id,
            usage=Usage(prompt_tokens, completion_tokens, 1, latency),
            finish_reason=finish,
        )

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        eid = self.endpoint.id
        if status in (408, 409, 425, 429) or status >= 500:
            raise _Retry(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            raise ModelError(
                f"model endpoint {eid} refused the API key (HTTP {status}); "
                f"check the key file given to `revisor model add {eid} --api-key-file`",
                endpoint=eid,
            )
        if status == 404:
            raise ModelError(
                f"model endpoint {eid}: HTTP 404 for model {self.endpoint.model!r} at "
                f"{self.endpoint.url}; check the URL (it should end in /v1) and the model name "
                "(`revisor model list` shows what the endpoint serves)",
                endpoint=eid,
            )
        raise ModelError(
            f"model endpoint {eid} refused the request: HTTP {status} {_short(response)}",
            endpoint=eid,
        )

    def _report(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        started: float,
        *,
        ok: bool,
        error: str = "",
        model: str = "",
    ) -> int:
        latency = int((time.monotonic() - started) * 1000)
        if self._on_usage is not None:
            self._on_usage(
                UsageRecord(
                    model=model or self.endpoint.model,
                    endpoint=self.endpoint.id,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    latency_ms=latency,
                    ok=ok,
                    error=error,
                )
            )
        return latency


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    return type(exc).__name__


def _short(response: httpx.Response) -> str:
    """The server's error message, shortened: enough for an admin, too little to echo a prompt."""
    try:
        detail = response.json().get("error", {})
        message = detail.get("message", "") if isinstance(detail, dict) else str(detail)
    except (ValueError, AttributeError):
        message = ""
    message = " ".join(str(message).split())
    return f"({message[:160]})" if message else ""


# --- routing ------------------------------------------------------------------------------------

_MATCH_KEYS = {"repo", "sensitivity", "min_diff_lines", "max_diff_lines"}
_ROUTE_KEYS = {"match", "endpoint", "fallback"}


@dataclass(frozen=True)
class Route:
    """`{match = {...}, endpoint = "id", fallback = "id"|""}`; every match key must hold.

    Match keys: `repo` (glob on the repository path), `sensitivity` (exact),
    `min_diff_lines` / `max_diff_lines` (inclusive bounds on the changed lines).
    `fallback`: endpoint to use when `endpoint` is down; "" for none. When absent, the global
    fallback applies — except for routes that match on `sensitivity`: code marked sensitive stays
    on the endpoint chosen for it unless the route names a fallback itself.
    """

    endpoint: str
    repo: str | None = None
    sensitivity: str | None = None
    min_diff_lines: int | None = None
    max_diff_lines: int | None = None
    fallback: str | None = None

    def matches(self, hints: RouteHints) -> bool:
        if self.repo is not None and not fnmatch.fnmatchcase(hints.repo, self.repo):
            return False
        if self.sensitivity is not None and hints.sensitivity != self.sensitivity:
            return False
        if self.min_diff_lines is not None and hints.diff_lines < self.min_diff_lines:
            return False
        return self.max_diff_lines is None or hints.diff_lines <= self.max_diff_lines


def parse_routes(raw: Sequence[Mapping[str, Any]], known: set[str]) -> tuple[Route, ...]:
    routes = []
    for i, entry in enumerate(raw, 1):
        where = f"[[model.routes]] #{i}"
        if not isinstance(entry, Mapping) or set(entry) - _ROUTE_KEYS:
            raise ConfigError(f"{where}: keys allowed: {', '.join(sorted(_ROUTE_KEYS))}")
        match = entry.get("match", {})
        if not isinstance(match, Mapping) or set(match) - _MATCH_KEYS:
            raise ConfigError(f"{where}: match keys allowed: {', '.join(sorted(_MATCH_KEYS))}")
        endpoint = entry.get("endpoint")
        if endpoint not in known:
            raise ConfigError(f"{where}: unknown endpoint {endpoint!r} (known: {sorted(known)})")
        fallback = entry.get("fallback")
        if fallback and fallback not in known:
            raise ConfigError(f"{where}: unknown fallback endpoint {fallback!r}")
        for key in ("min_diff_lines", "max_diff_lines"):
            if key in match and (not isinstance(match[key], int) or isinstance(match[key], bool)):
                raise ConfigError(f"{where}: {key} must be an integer")
        for key in ("repo", "sensitivity"):
            if key in match and not isinstance(match[key], str):
                raise ConfigError(f"{where}: {key} must be a string")
        if fallback is None and "sensitivity" in match:
            fallback = ""
        routes.append(Route(endpoint=str(endpoint), fallback=fallback, **dict(match)))
    return tuple(routes)


class Router:
    """The `ChatModel` the review engine uses: routing rules, fallback, per-endpoint clients."""

    def __init__(
        self,
        clients: Mapping[str, EndpointClient],
        default: str,
        *,
        routes: Sequence[Route] = (),
        fallback: str = "",
        fallback_retry: RetryPolicy | None = None,
    ) -> None:
        if default not in clients:
            raise ConfigError(f"default model endpoint {default!r} is not configured")
        if fallback and fallback not in clients:
            raise ConfigError(f"fallback model endpoint {fallback!r} is not configured")
        self.clients = dict(clients)
        self.default = default
        self.routes = tuple(routes)
        self.fallback = fallback
        # With a fallback at hand, give up on the first endpoint sooner.
        self._primary_retry = fallback_retry or RetryPolicy(max_attempts=2, max_total_seconds=300)
        self._owns_clients = True

    @property
    def concurrency(self) -> int:
        return self.clients[self.default].concurrency

    def concurrency_for(self, hints: RouteHints | None) -> int:
        return self.clients[self.choose(hints)[0]].concurrency

    def context_for(self, hints: RouteHints | None) -> int:
        """The context window a prompt must fit: the routed endpoint's, and its fallback's."""
        return min(self.clients[eid].endpoint.context_tokens for eid in self.choose(hints) if eid)

    def choose(self, hints: RouteHints | None) -> tuple[str, str]:
        """(endpoint id, fallback id or "") for these hints."""
        hints = hints or RouteHints()
        for route in self.routes:
            if route.matches(hints):
                fallback = self.fallback if route.fallback is None else route.fallback
                return route.endpoint, fallback if fallback != route.endpoint else ""
        return self.default, self.fallback if self.fallback != self.default else ""

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion:
        primary, fallback = self.choose(hints)
        client = self.clients[primary]
        if not fallback:
            return client.complete(messages, max_tokens=max_tokens, json_mode=json_mode)
        retry = replace(
            client.retry,
            max_attempts=min(client.retry.max_attempts, self._primary_retry.max_attempts),
            max_total_seconds=min(
                client.retry.max_total_seconds, self._primary_retry.max_total_seconds
            ),
        )
        try:
            return client.complete(
                messages, max_tokens=max_tokens, json_mode=json_mode, retry=retry
            )
        except ModelUnavailable as exc:
            log.warning(
                "model endpoint %s unavailable (%s); falling back to %s", primary, exc, fallback
            )
        return self.clients[fallback].complete(messages, max_tokens=max_tokens, json_mode=json_mode)

    def metered(self, on_usage: UsageCallback) -> Router:
        """This router, reporting every request's usage to `on_usage` (the worker's per-job
        view): same HTTP clients, same request slots, nothing opened or to close."""
        view = copy.copy(self)
        view.clients = {eid: c.metered(on_usage) for eid, c in self.clients.items()}
        view._owns_clients = False
        return view

    def close(self) -> None:
        if self._owns_clients:
            for client in self.clients.values():
                client.close()
