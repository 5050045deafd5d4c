"""Where model endpoints come from, and the one function that turns them into a `Router`.

Three sources, merged by `build_router`:

- `[[model.endpoints]]` in revisor.toml (API key in a file named by `api_key_file`);
- the `model_endpoints` table, written by `revisor model add` (API key sealed with the KeyRing,
  bound to its row: `model_endpoints:<id>:api_key`);
- the embedded sidecar, id `local`, when `revisor up` started one.

The default endpoint is the one added with `--default`, else the first in revisor.toml, else the
first registered, else `local`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from revisor.config import Settings
from revisor.domain import UsageRecord
from revisor.egress import Egress
from revisor.errors import ConfigError, RevisorError
from revisor.llm.client import (
    STRUCTURED_OUTPUT_MODES,
    Endpoint,
    EndpointClient,
    RequestOptions,
    Router,
    normalize_base_url,
    parse_routes,
)
from revisor.secrets import KeyRing, aad_for, read_secret_file
from revisor.store.db import now

LOCAL_ID = "local"
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class EndpointNotFound(RevisorError):
    pass


@dataclass(frozen=True)
class StoredEndpoint:
    """A row of `model_endpoints`, without its key."""

    id: str
    url: str
    model: str
    has_api_key: bool
    max_concurrency: int
    context_tokens: int
    is_default: bool
    created_at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "model": self.model,
            "has_api_key": self.has_api_key,
            "max_concurrency": self.max_concurrency,
            "context_tokens": self.context_tokens,
            "default": self.is_default,
            "source": "database",
        }


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


def _row(row: Mapping[str, Any]) -> StoredEndpoint:
    return StoredEndpoint(
        id=row["id"],
        url=row["url"],
        model=row["model"],
        has_api_key=row["api_key_enc"] is not None,
        max_concurrency=int(row["max_concurrency"]),
        context_tokens=int(row["context_tokens"]),
        is_default=bool(row["is_default"]),
        created_at=float(row["created_at"]),
    )


def list_endpoints(db: sqlite_utils.Database) -> list[StoredEndpoint]:
    return [_row(r) for r in db.query("SELECT * FROM model_endpoints ORDER BY created_at, id")]


def add_endpoint(
    db: sqlite_utils.Database,
    keys: KeyRing,
    *,
    endpoint_id: str,
    url: str,
    model: str = "",
    api_key: str | None = None,
    max_concurrency: int = 1,
    context_tokens: int = 8192,
    default: bool = False,
    replace: bool = False,
    before_commit: Callable[[], None] | None = None,
) -> StoredEndpoint:
    """Register (or replace) an endpoint; `before_commit()` (the audit record) runs inside the
    transaction: if it raises, nothing changes."""
    check_id(endpoint_id)
    base = check_url(url)
    if max_concurrency < 1 or context_tokens < 256:
        raise ConfigError("max concurrency must be >= 1 and context >= 256 tokens")
    sealed = (
        keys.seal(api_key, aad_for("model_endpoints", endpoint_id, "api_key")) if api_key else None
    )
    with db.conn:
        db.conn.execute("BEGIN IMMEDIATE")  # db.execute alone commits each statement
        exists = db.execute("SELECT 1 FROM model_endpoints WHERE id = ?", [endpoint_id]).fetchone()
        if exists and not replace:
            raise ConfigError(f"model endpoint {endpoint_id!r} exists; remove it first")
        if default:
            db.execute("UPDATE model_endpoints SET is_default = 0")
        db.execute(
            "INSERT OR REPLACE INTO model_endpoints (id, url, model, api_key_enc, max_concurrency,"
            " context_tokens, is_default, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [endpoint_id, base, model or endpoint_id, sealed, max_concurrency, context_tokens,
             int(default), now()],
        )  # fmt: skip
        if before_commit is not None:
            before_commit()
    return get_endpoint(db, endpoint_id)


def get_endpoint(db: sqlite_utils.Database, endpoint_id: str) -> StoredEndpoint:
    rows = list(db.query("SELECT * FROM model_endpoints WHERE id = ?", [endpoint_id]))
    if not rows:
        raise EndpointNotFound(f"no registered model endpoint {endpoint_id!r}")
    return _row(rows[0])


def remove_endpoint(
    db: sqlite_utils.Database, endpoint_id: str, before_commit: Callable[[], None] | None = None
) -> None:
    with db.conn:
        db.conn.execute("BEGIN IMMEDIATE")
        cursor = db.execute("DELETE FROM model_endpoints WHERE id = ?", [endpoint_id])
        if cursor.rowcount == 0:
            raise EndpointNotFound(f"no registered model endpoint {endpoint_id!r}")
        if before_commit is not None:
            before_commit()


def _stored_key(db: sqlite_utils.Database, keys: KeyRing, endpoint_id: str) -> str | None:
    row = db.execute(
        "SELECT api_key_enc FROM model_endpoints WHERE id = ?", [endpoint_id]
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return keys.open_str(row[0], aad_for("model_endpoints", endpoint_id, "api_key"))


@dataclass(frozen=True)
class EndpointSet:
    endpoints: dict[str, Endpoint]
    default: str


def collect_endpoints(
    settings: Settings,
    db: sqlite_utils.Database | None,
    keys: KeyRing | None,
    *,
    sidecar_url: str | None = None,
    sidecar_key: str | None = None,
) -> EndpointSet:
    """All endpoints with their API keys, and which one is the default."""
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
    stored = list_endpoints(db) if db is not None and db["model_endpoints"].exists() else []
    for s in stored:
        if s.id in found:
            raise ConfigError(f"model endpoint {s.id!r} is both in revisor.toml and registered")
        api_key = None
        if s.has_api_key:
            if keys is None:
                raise ConfigError(f"model endpoint {s.id!r} has a sealed API key but no key ring")
            api_key = _stored_key(db, keys, s.id) if db is not None else None
        found[s.id] = Endpoint(
            id=s.id,
            url=s.url,
            model=s.model,
            api_key=api_key,
            max_concurrency=s.max_concurrency,
            context_tokens=s.context_tokens,
        )
    if sidecar_url:
        found[LOCAL_ID] = Endpoint(
            id=LOCAL_ID,
            url=normalize_base_url(sidecar_url),
            model=m.default_model,
            api_key=sidecar_key,
            # llama-cpp-python's server answers one request at a time; vLLM batches.
            max_concurrency=1 if m.engine == "llama.cpp" else max(1, m.sidecar_parallel),
            context_tokens=m.sidecar_context,
            engine=m.engine,
        )
    defaults = [s.id for s in stored if s.is_default]
    order = defaults + toml_ids + [s.id for s in stored] + ([LOCAL_ID] if sidecar_url else [])
    if not order:
        raise ConfigError(
            "no model endpoint: start the embedded sidecar (`revisor up` / `revisor inference`) "
            "or register one with `revisor model add ID --url URL`"
        )
    return EndpointSet(found, order[0])


def endpoint_urls(settings: Settings, db: sqlite_utils.Database | None) -> list[str]:
    """Every configured endpoint URL, for the egress allowlist."""
    urls = [e.url for e in settings.model.endpoints]
    if db is not None and db["model_endpoints"].exists():
        urls += [s.url for s in list_endpoints(db)]
    return urls


def build_router(
    settings: Settings,
    db: sqlite_utils.Database | None,
    keys: KeyRing | None,
    egress: Egress,
    *,
    sidecar_url: str | None = None,
    sidecar_key: str | None = None,
    on_usage: Callable[[UsageRecord], None] | None = None,
    json_schema: Mapping[str, Any] | None = None,
) -> Router:
    """The `ChatModel` for the worker and `revisor review`: every endpoint, routes, fallback."""
    m = settings.model
    if m.structured_output not in STRUCTURED_OUTPUT_MODES:
        raise ConfigError(
            f"[model] structured_output must be one of {', '.join(STRUCTURED_OUTPUT_MODES)}"
        )
    found = collect_endpoints(settings, db, keys, sidecar_url=sidecar_url, sidecar_key=sidecar_key)
    routes = parse_routes(m.routes, set(found.endpoints))
    if m.fallback and m.fallback not in found.endpoints:
        raise ConfigError(f"[model] fallback {m.fallback!r} is not a configured endpoint")
    options = RequestOptions(
        temperature=m.temperature, structured_output=m.structured_output, json_schema=json_schema
    )
    clients = {
        eid: EndpointClient(e, egress, options=options, on_usage=on_usage)
        for eid, e in found.endpoints.items()
    }
    return Router(clients, found.default, routes=routes, fallback=m.fallback)
