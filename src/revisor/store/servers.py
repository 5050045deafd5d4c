"""Allowed Git servers: an admin decision, kept in the `git_servers` table (migration 005).

A repository can be registered only on a server listed here (`require_allowed`), and the
egress allowlist takes Git servers from this table and nowhere else, so registering a
repository never widens what Revisor may connect to. Only admins change the list (`revisor
server add|remove`, the dashboard's Git servers page); both write an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from revisor.errors import ConfigError, RevisorError
from revisor.gitservers import canonical_server_url
from revisor.store.db import now


class ServerNotAllowed(RevisorError):
    pass


class ServerInUse(RevisorError):
    pass


@dataclass(frozen=True)
class GitServer:
    id: int
    url: str
    added_by: str
    created_at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "added_by": self.added_by,
            "created_at": self.created_at,
        }


def _from_row(row: dict[str, Any]) -> GitServer:
    return GitServer(row["id"], row["url"], row["added_by"], row["created_at"])


def list_all(db: sqlite_utils.Database) -> list[GitServer]:
    return [_from_row(r) for r in db.query("SELECT * FROM git_servers ORDER BY url")]


def urls(db: sqlite_utils.Database) -> list[str]:
    """The allowed servers' URLs, for the egress allowlist."""
    return [r[0] for r in db.execute("SELECT url FROM git_servers ORDER BY url").fetchall()]


def find(db: sqlite_utils.Database, url: str) -> GitServer | None:
    rows = list(db.query("SELECT * FROM git_servers WHERE url = ?", [url]))
    return _from_row(rows[0]) if rows else None


def allow(db: sqlite_utils.Database, url: str, *, added_by: str) -> tuple[GitServer, bool]:
    """Allow a server (its canonical URL). Returns it, and whether it was newly added."""
    canonical = canonical_server_url(url)
    existing = find(db, canonical)
    if existing is not None:
        return existing, False
    with db.conn:
        db.execute(
            "INSERT INTO git_servers (url, added_by, created_at) VALUES (?, ?, ?)",
            [canonical, added_by, now()],
        )
    found = find(db, canonical)
    if found is None:
        raise RuntimeError("SQLite lost the server it just inserted")
    return found, True


def require_allowed(db: sqlite_utils.Database, url: str) -> str:
    """The canonical URL of `url` if an admin has allowed that server; else a clear error."""
    canonical = canonical_server_url(url)
    if find(db, canonical) is None:
        raise ServerNotAllowed(
            f"Git server {canonical} is not on the list of allowed servers; an admin must "
            f"allow it first (`revisor server add {canonical}` or the dashboard's Git servers "
            "page)"
        )
    return canonical


def _same(repo_server: str, server: GitServer) -> bool:
    try:
        return canonical_server_url(repo_server) == server.url
    except ConfigError:
        return repo_server == server.url


def check_removable(db: sqlite_utils.Database, url_or_id: str) -> GitServer:
    """The allowed server named by URL or id, if no registered repository uses it."""
    if url_or_id.isdigit():
        rows = list(db.query("SELECT * FROM git_servers WHERE id = ?", [int(url_or_id)]))
        server = _from_row(rows[0]) if rows else None
    else:
        server = find(db, canonical_server_url(url_or_id))
    if server is None:
        raise ServerNotAllowed(f"no allowed Git server {url_or_id!r}")
    in_use = sum(
        1 for (u,) in db.execute("SELECT server FROM repos").fetchall() if _same(u, server)
    )
    if in_use:
        raise ServerInUse(
            f"{in_use} registered repositor{'y uses' if in_use == 1 else 'ies use'} "
            f"{server.url}; remove them first"
        )
    return server


def remove(db: sqlite_utils.Database, url_or_id: str) -> GitServer:
    """Disallow a server. Refused while repositories on it are still registered."""
    server = check_removable(db, url_or_id)
    with db.conn:
        db.execute("DELETE FROM git_servers WHERE id = ?", [server.id])
    return server
