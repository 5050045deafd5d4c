"""Which model endpoints Revisor uses, and the one function that turns them into a `Router`.

Three sources, merged by `select_endpoints` (the one place that decides which endpoints,
the embedded sidecar included, a process talks to):

- `[[model.endpoints]]` in revisor.toml (API key in a file named by `api_key_file`);
- the rows of `model_endpoints`, written by `revisor model add` (`store/endpoints.py` reads
  them, with their sealed API keys opened; the caller passes them in: llm/ does no SQL);
- the embedded sidecar, id `local`: when no external endpoint is configured (that is when
  `revisor up` starts it), or always / never when the caller asks.

The default endpoint is the one added with `--default`, else the first in revisor.toml, else the
first registered, else `local`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from revisor.config import Settings
from revisor.domain import UsageRecord
from revisor.egress import Egress
from revisor.errors import ConfigError
from revisor.llm.client import (
    Endpoint,
    EndpointClient,
    RequestOptions,
    Router,
    normalize_base_url,
    parse_routes,
)
from revisor.llm.health import probe_endpoint
from revisor.llm.schema import FINDINGS_SCHEMA, structured_output_for
from revisor.secrets import SIDECAR_KEY_FILE, ensure_api_key, read_secret_file

LOCAL_ID = "local"
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class RegisteredEndpoint(Protocol):
    """A registered endpoint as `store.endpoints.with_keys()` returns it."""

    @property
    def id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def api_key(self) -> str | None: ...
    @property
    def max_concurrency(self) -> int: ...
    @property
    def context_tokens(self) -> int: ...
    @property
    def is_default(self) -> bool: ...


def check_id(endpoint_id: str) -> str:
    if not _ID.match(endpoint_id):
        raise ConfigError(
            f"endpoint id {endpoint_id!r}: use lowercase letters, digits, '.', '_' or '-' (max 63)"
        )
    if endpoint_id == LOCAL_ID:
        raise ConfigError(f"endpoint id {LOCAL_ID!r} is reserved for the embedded sidecar")
    return endpoint_id


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"model endpoint URL must be http(s)://host[:port][/v1], got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("model endpoint URL must not carry a query, fragment or credentials")
    return normalize_base_url(url)


@dataclass(frozen=True)
class EndpointSet:
    endpoints: dict[str, Endpoint]
    default: str


@dataclass(frozen=True)
class SidecarAt:
    """A sidecar the caller started itself (`revisor review` without `revisor up`)."""

    url: str
    api_key: str | None


# "embedded": the sidecar only when no external endpoint is configured (what `revisor up` runs);
# "always": listed even beside external ones (`revisor model list`, its test prompt);
# "never": the external endpoints only.
SidecarChoice = Literal["embedded", "always", "never"] | SidecarAt


def uses_embedded_model(settings: Settings, registered: Sequence[object]) -> bool:
    """True when no external model endpoint is configured: `revisor up` runs the sidecar."""
    return not settings.model.endpoints and not registered


def sidecar_endpoint(settings: Settings, *, create_key: bool = True) -> SidecarAt:
    """URL and API key of the embedded sidecar. The key file is created on first use, unless
    `create_key` is False (then the key is None while no sidecar ever ran)."""
    m = settings.model
    path = settings.keys_dir / SIDECAR_KEY_FILE
    if create_key:
        key: str | None = ensure_api_key(path)
    else:
        key = read_secret_file(path) if path.exists() else None
    return SidecarAt(f"http://{m.sidecar_host}:{m.sidecar_port}/v1", key)


def select_endpoints(
    settings: Settings,
    registered: Sequence[RegisteredEndpoint],
    *,
    sidecar: SidecarChoice = "embedded",
) -> EndpointSet:
    """All endpoints a process talks to, with their API keys, and which one is the default.

    `registered` comes from `store.endpoints.with_keys(db, keys)` (empty without a database).
    """
    m = settings.model
    found: dict[str, Endpoint] = {}
    toml_ids: list[str] = []
    for e in m.endpoints:
        if e.id in found or e.id == LOCAL_ID:
            raise ConfigError(f"[[model.endpoints]] id {e.id!r} is used twice or reserved")
        found[e.id] = Endpoint(
            id=e.id,
            url=check_url(e.url),
            model=e.model or e.id,
            api_key=read_secret_file(e.api_key_file) if e.api_key_file else None,
            max_concurrency=e.max_concurrency,
            context_tokens=e.context_tokens,
            timeout_seconds=e.timeout_seconds,
        )
        toml_ids.append(e.id)
    for s in registered:
        if s.id in found:
            raise ConfigError(f"model endpoint {s.id!r} is both in revisor.toml and registered")
        found[s.id] = Endpoint(
            id=s.id,
            url=s.url,
            model=s.model,
            api_key=s.api_key,
            max_concurrency=s.max_concurrency,
            context_tokens=s.context_tokens,
        )
    at = _sidecar(settings, registered, sidecar)
    if at is not None:
        found[LOCAL_ID] = Endpoint(
            id=LOCAL_ID,
            url=normalize_base_url(at.url),
            model=m.default_model,
            api_key=at.api_key,
            # llama-cpp-python's server answers one request at a time; vLLM batches.
            max_concurrency=1 if m.engine == "llama.cpp" else max(1, m.sidecar_parallel),
            context_tokens=m.sidecar_context,
            engine=m.engine,
        )
    defaults = [s.id for s in registered if s.is_default]
    order = defaults + toml_ids + [s.id for s in registered] + ([LOCAL_ID] if at else [])
    if not order:
        raise ConfigError(
            "no model endpoint: start the embedded sidecar (`revisor up` / `revisor inference`) "
            "or register one with `revisor model add ID --url URL`"
        )
    return EndpointSet(found, order[0])


def _sidecar(
    settings: Settings, registered: Sequence[RegisteredEndpoint], choice: SidecarChoice
) -> SidecarAt | None:
    if isinstance(choice, SidecarAt):
        return choice
    if choice == "always":
        return sidecar_endpoint(settings, create_key=False)
    if choice == "embedded" and uses_embedded_model(settings, registered):
        return sidecar_endpoint(settings)
    return None


def default_endpoint_health(
    settings: Settings,
    registered: Sequence[RegisteredEndpoint],
    egress: Egress,
    *,
    timeout: float = 2.0,
) -> dict[str, Any]:
    """The health of the default endpoint (for /readyz, `revisor status` and the doctor):
    `probe_endpoint`'s report plus the endpoint's id. Never raises."""
    try:
        found = select_endpoints(settings, registered)
        endpoint = found.endpoints[found.default]
    except Exception as exc:  # a probe reports, it never raises
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}
    report = probe_endpoint(endpoint, egress, timeout=timeout)
    return {"ok": report["ok"], "endpoint": endpoint.id, "detail": report["detail"]}


def build_router(
    settings: Settings,
    found: EndpointSet,
    egress: Egress,
    *,
    on_usage: Callable[[UsageRecord], None] | None = None,
    json_schema: Mapping[str, Any] | None = None,
) -> Router:
    """The `ChatModel` for the worker and `revisor review`: every endpoint, routes, fallback.

    Each endpoint gets the structured-output mode of its engine (`structured_output_for`), with
    the findings schema unless the caller gives another."""
    m = settings.model
    structured_output_for("", m.structured_output)  # a wrong setting fails here, named
    routes = parse_routes(m.routes, set(found.endpoints))
    if m.fallback and m.fallback not in found.endpoints:
        raise ConfigError(f"[model] fallback {m.fallback!r} is not a configured endpoint")
    schema = FINDINGS_SCHEMA if json_schema is None else json_schema
    clients = {
        eid: EndpointClient(
            e,
            egress,
            options=RequestOptions(
                temperature=m.temperature,
                seed=m.seed if m.seed >= 0 else None,
                structured_output=structured_output_for(e.engine, m.structured_output),
                json_schema=schema,
            ),
            on_usage=on_usage,
        )
        for eid, e in found.endpoints.items()
    }
    return Router(clients, found.default, routes=routes, fallback=m.fallback)
