"""Server-side sessions. The cookie carries a random id; the row (keyed by the id's sha256)
carries who, which roles, the CSRF token and the times that enforce the idle and absolute
timeouts. Signing in always creates a new id (no session fixation); signing out deletes the row.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlite_utils

from revisor.config import AuthSettings

COOKIE = "revisor_session"
# Refresh `last_seen` at most this often: every page view writing to SQLite would be wasteful.
TOUCH_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    """Who is signed in. `username` is qualified by source: `ldap:alice`, `local:admin`."""

    username: str
    display_name: str
    roles: frozenset[str]
    csrf: str
    session_hash: str
    via_token: bool = False  # an API token (web/auth/tokens.py): no cookie, so no CSRF

    @property
    def actor(self) -> str:
        return self.username if self.via_token else f"user:{self.username}"

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create(
    db: sqlite_utils.Database,
    *,
    username: str,
    display_name: str,
    roles: frozenset[str],
    source: str,
    t: float,
    replaces: str | None = None,
) -> tuple[str, Principal]:
    """A new session (and drop `replaces`, the id the browser came with). Returns (id, who)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    digest = _digest(session_id)
    with db.conn:
        if replaces:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", [_digest(replaces)])
        db.execute(
            "INSERT INTO sessions (id_hash, username, display_name, roles, csrf, source,"
            " created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [digest, username, display_name, ",".join(sorted(roles)), csrf, source, t, t],
        )
    return session_id, Principal(username, display_name, roles, csrf, digest)


def lookup(
    db: sqlite_utils.Database, settings: AuthSettings, session_id: str, t: float
) -> Principal | None:
    """The session's principal, or None if unknown or expired (an expired row is deleted)."""
    if not session_id or len(session_id) > 128:
        return None
    digest = _digest(session_id)
    row = db.execute(
        "SELECT username, display_name, roles, csrf, created_at, last_seen FROM sessions"
        " WHERE id_hash = ?",
        [digest],
    ).fetchone()
    if row is None:
        return None
    username, display_name, roles, csrf, created_at, last_seen = row
    idle = t - last_seen > settings.session_idle_minutes * 60
    too_old = t - created_at > settings.session_absolute_hours * 3600
    if idle or too_old:
        with db.conn:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", [digest])
        return None
    if t - last_seen >= TOUCH_EVERY_SECONDS:
        with db.conn:
            db.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", [t, digest])
    return Principal(
        username, display_name, frozenset(filter(None, roles.split(","))), csrf, digest
    )


def destroy(db: sqlite_utils.Database, session_hash: str) -> None:
    with db.conn:
        db.execute("DELETE FROM sessions WHERE id_hash = ?", [session_hash])


def purge_expired(db: sqlite_utils.Database, settings: AuthSettings, t: float) -> int:
    with db.conn:
        cursor = db.execute(
            "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
            [t - settings.session_idle_minutes * 60, t - settings.session_absolute_hours * 3600],
        )
    return cursor.rowcount
