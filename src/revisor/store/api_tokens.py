"""API tokens for scripts and monitoring (the `api_tokens` table, migration 007).

A token is `rvs_<id>_<secret>`; only the sha256 of the whole token is stored, so a copy of
the database holds no usable token. It carries its own roles (a subset of what an admin may
hand out), always expires, can be revoked, and remembers when it was last used.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlite_utils

from revisor.store.db import now

PREFIX = "rvs_"
GRANTABLE = frozenset({"viewer", "auditor", "maintainer"})  # never admin: that stays a person
MAX_DAYS = 366
TOUCH_EVERY_SECONDS = 60


class TokenError(ValueError):
    """A token that cannot be created as asked (roles, expiry, name)."""


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    prefix: str  # `rvs_<id>_<first 4>`: enough to recognise it, useless to use
    roles: frozenset[str]
    created_by: str
    created_at: float
    expires_at: float
    revoked_at: float | None
    revoked_by: str | None
    last_used_at: float | None

    def active(self, t: float) -> bool:
        return self.revoked_at is None and t < self.expires_at

    @property
    def actor(self) -> str:
        return f"token:{self.id}:{self.name}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    db: sqlite_utils.Database,
    *,
    name: str,
    roles: frozenset[str],
    days: int,
    created_by: str,
) -> tuple[ApiToken, str]:
    """A new token and its plaintext, which is shown once and never stored."""
    name = " ".join(name.split())[:80]
    if not name:
        raise TokenError("give the token a name (what script or monitor uses it)")
    if not roles or not roles <= GRANTABLE:
        raise TokenError(f"a token's roles are one or more of {', '.join(sorted(GRANTABLE))}")
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"a token expires after 1 to {MAX_DAYS} days")
    t = now()
    secret = secrets.token_urlsafe(32)
    with db.conn:
        cursor = db.execute(
            "INSERT INTO api_tokens (name, token_sha256, prefix, roles, created_by, created_at,"
            " expires_at) VALUES (?, ?, '', ?, ?, ?, ?)",
            [name, secrets.token_hex(32), ",".join(sorted(roles)), created_by, t, t + days * 86400],
        )
        token_id = cursor.lastrowid
        token = f"{PREFIX}{token_id}_{secret}"
        db.execute(
            "UPDATE api_tokens SET token_sha256 = ?, prefix = ? WHERE id = ?",
            [digest(token), f"{PREFIX}{token_id}_{secret[:4]}", token_id],
        )
    found = get(db, int(token_id or 0))
    if found is None:
        raise RuntimeError("SQLite did not keep the new token")
    return found, token


def _from_row(r: dict[str, object]) -> ApiToken:
    return ApiToken(
        id=int(r["id"]),  # type: ignore[call-overload]
        name=str(r["name"]),
        prefix=str(r["prefix"]),
        roles=frozenset(filter(None, str(r["roles"]).split(","))),
        created_by=str(r["created_by"]),
        created_at=float(r["created_at"]),  # type: ignore[arg-type]
        expires_at=float(r["expires_at"]),  # type: ignore[arg-type]
        revoked_at=r["revoked_at"],  # type: ignore[arg-type]
        revoked_by=r["revoked_by"],  # type: ignore[arg-type]
        last_used_at=r["last_used_at"],  # type: ignore[arg-type]
    )


def get(db: sqlite_utils.Database, token_id: int) -> ApiToken | None:
    rows = list(db.query("SELECT * FROM api_tokens WHERE id = ?", [token_id]))
    return _from_row(rows[0]) if rows else None


def list_all(db: sqlite_utils.Database) -> list[ApiToken]:
    return [_from_row(r) for r in db.query("SELECT * FROM api_tokens ORDER BY id DESC")]


def check(db: sqlite_utils.Database, token: str, t: float) -> ApiToken | None:
    """The active token this is, or None (unknown, wrong, revoked or expired)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    wanted = digest(token)
    rows = list(db.query("SELECT * FROM api_tokens WHERE token_sha256 = ?", [wanted]))
    if not rows or not hmac.compare_digest(str(rows[0]["token_sha256"]), wanted):
        return None
    found = _from_row(rows[0])
    if not found.active(t):
        return None
    if found.last_used_at is None or t - found.last_used_at >= TOUCH_EVERY_SECONDS:
        with db.conn:
            db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [t, found.id])
    return found


def revoke(db: sqlite_utils.Database, token_id: int, *, by: str) -> bool:
    with db.conn:
        cursor = db.execute(
            "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?"
            " AND revoked_at IS NULL",
            [now(), by, token_id],
        )
    return cursor.rowcount == 1
