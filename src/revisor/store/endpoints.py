"""The `model_endpoints` table: external endpoints registered with `revisor model add`.

The API key is sealed with the KeyRing, bound to its row (`model_endpoints:<id>:api_key`).
Validating an id or URL is the model layer's rule (`llm.registry.check_id`, `check_url`); this
module stores what it is given and reads it back. `llm/registry.py` turns these rows, the
`[[model.endpoints]]` of revisor.toml and the embedded sidecar into the endpoints to use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlite_utils

from revisor.errors import ConfigError, RevisorError
from revisor.secrets import KeyRing, aad_for
from revisor.sqlitefile import now


class EndpointNotFound(RevisorError):
    pass


@dataclass(frozen=True)
class StoredEndpoint:
    """A row of `model_endpoints`; `api_key` is filled in only by `with_keys()`."""

    id: str
    url: str
    model: str
    has_api_key: bool
    max_concurrency: int
    context_tokens: int
    is_default: bool
    created_at: float
    api_key: str | None = field(default=None, repr=False, compare=False)

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
    """Every registered endpoint, oldest first, without keys (none before migration 002)."""
    if not db["model_endpoints"].exists():
        return []
    return [_row(r) for r in db.query("SELECT * FROM model_endpoints ORDER BY created_at, id")]


def with_keys(db: sqlite_utils.Database, keys: KeyRing | None) -> list[StoredEndpoint]:
    """Every registered endpoint with its API key opened (a key that does not decrypt raises)."""
    out = []
    for row in list_endpoints(db):
        if row.has_api_key:
            if keys is None:
                raise ConfigError(f"model endpoint {row.id!r} has a sealed API key but no key ring")
            row = replace(row, api_key=_stored_key(db, keys, row.id))  # noqa: PLW2901
        out.append(row)
    return out


def urls(db: sqlite_utils.Database) -> list[str]:
    """Every registered endpoint URL, for the egress allowlist."""
    return [s.url for s in list_endpoints(db)]


def fingerprint(db: sqlite_utils.Database) -> tuple[tuple[Any, ...], ...]:
    """Changes whenever an endpoint is added, replaced or removed (a key replaced included:
    `add(replace=True)` stamps a new `created_at`)."""
    return tuple(
        (s.id, s.url, s.model, s.has_api_key, s.max_concurrency, s.context_tokens,
         s.is_default, s.created_at)
        for s in list_endpoints(db)
    )  # fmt: skip


def add(
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
    """Register (or replace) an endpoint whose id and URL the caller has checked;
    `before_commit()` (the audit record) runs inside the transaction: if it raises, nothing
    changes."""
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
            [endpoint_id, url, model or endpoint_id, sealed, max_concurrency, context_tokens,
             int(default), now()],
        )  # fmt: skip
        if before_commit is not None:
            before_commit()
    return get(db, endpoint_id)


def get(db: sqlite_utils.Database, endpoint_id: str) -> StoredEndpoint:
    rows = list(db.query("SELECT * FROM model_endpoints WHERE id = ?", [endpoint_id]))
    if not rows:
        raise EndpointNotFound(f"no registered model endpoint {endpoint_id!r}")
    return _row(rows[0])


def remove(
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
