"""Git servers connected for onboarding: an allowed server (`store/servers.py`) with its kind,
an admin or group token (sealed like every stored secret, bound to the server's URL) and its
CA bundle; plus the webhook Revisor created for each repository it enabled, and the last
delivery each repository received."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from revisor.domain import ForgeKind
from revisor.secrets import KeyRing, aad_for
from revisor.store.db import now


@dataclass(frozen=True)
class Connection:
    url: str
    kind: ForgeKind
    token: str = field(repr=False)
    ca_file: str | None
    connected_by: str
    connected_at: float


@dataclass(frozen=True)
class LastDelivery:
    event: str
    outcome: str
    received_at: float


def _aad(url: str) -> bytes:
    return aad_for("git_servers", url, "token")


def save(
    db: sqlite_utils.Database,
    keys: KeyRing,
    *,
    url: str,
    kind: ForgeKind,
    token: str,
    ca_file: str | None,
    connected_by: str,
) -> None:
    """Store the connection of the allowed server `url` (canonical), replacing an earlier one."""
    with db.conn:
        cursor = db.execute(
            "UPDATE git_servers SET kind = ?, token_enc = ?, ca_file = ?, connected_by = ?,"
            " connected_at = ? WHERE url = ?",
            [kind.value, keys.seal(token, _aad(url)), ca_file, connected_by, now(), url],
        )
    if cursor.rowcount != 1:
        raise LookupError(f"Git server {url} is not allowed")


def get(db: sqlite_utils.Database, keys: KeyRing, url: str) -> Connection | None:
    row = db.execute(
        "SELECT kind, token_enc, ca_file, connected_by, connected_at FROM git_servers"
        " WHERE url = ? AND token_enc IS NOT NULL",
        [url],
    ).fetchone()
    if row is None:
        return None
    kind, token_enc, ca_file, by, at = row
    return Connection(url, ForgeKind(kind), keys.open_str(token_enc, _aad(url)), ca_file, by, at)


def connected(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """URL -> kind, who connected it and when, for every connected server (no token)."""
    rows = db.execute(
        "SELECT url, kind, connected_by, connected_at FROM git_servers WHERE token_enc IS NOT NULL"
    ).fetchall()
    return {u: {"kind": k, "connected_by": b, "connected_at": t} for u, k, b, t in rows}


def set_hook(db: sqlite_utils.Database, repo_id: int, hook_id: str | None) -> None:
    with db.conn:
        db.execute("UPDATE repos SET hook_id = ? WHERE id = ?", [hook_id, repo_id])


def hook_of(db: sqlite_utils.Database, repo_id: int) -> str | None:
    row = db.execute("SELECT hook_id FROM repos WHERE id = ?", [repo_id]).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def hooks(db: sqlite_utils.Database) -> dict[int, str]:
    """repo id -> the id of the webhook Revisor created for it."""
    rows = db.execute("SELECT id, hook_id FROM repos WHERE hook_id IS NOT NULL").fetchall()
    return {int(r): str(h) for r, h in rows}


def last_deliveries(db: sqlite_utils.Database) -> dict[int, LastDelivery]:
    """Each repository's most recent webhook delivery, as the intake recorded it."""
    rows = db.execute(
        "SELECT d.repo_id, d.event, d.outcome, d.received_at FROM deliveries d"
        " JOIN (SELECT repo_id, max(received_at) AS t FROM deliveries"
        "       WHERE repo_id IS NOT NULL GROUP BY repo_id) m"
        " ON d.repo_id = m.repo_id AND d.received_at = m.t"
    ).fetchall()
    return {int(r): LastDelivery(e, o, t) for r, e, o, t in rows}


def deliveries_since(db: sqlite_utils.Database, repo_id: int, t: float) -> int:
    row = db.execute(
        "SELECT count(*) FROM deliveries WHERE repo_id = ? AND received_at >= ?", [repo_id, t]
    ).fetchone()
    return int(row[0])


def add_group_hook(
    db: sqlite_utils.Database, server: str, group: str, hook_id: str, created_by: str
) -> int:
    with db.conn:
        cursor = db.execute(
            "INSERT INTO group_hooks (server, grp, hook_id, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [server, group, hook_id, created_by, now()],
        )
    if cursor.lastrowid is None:
        raise RuntimeError("SQLite did not return the group hook's id")
    return int(cursor.lastrowid)


def group_hook(db: sqlite_utils.Database, server: str, group: str) -> tuple[int, str] | None:
    """(row id, hook id) of the group hook Revisor made on `group`, if any."""
    row = db.execute(
        "SELECT id, hook_id FROM group_hooks WHERE server = ? AND grp = ?", [server, group]
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def group_hooks(db: sqlite_utils.Database, server: str) -> dict[str, str]:
    rows = db.execute("SELECT grp, hook_id FROM group_hooks WHERE server = ?", [server])
    return {str(g): str(h) for g, h in rows.fetchall()}


def join_group_hook(db: sqlite_utils.Database, repo_id: int, group_hook_id: int) -> None:
    with db.conn:
        db.execute("UPDATE repos SET group_hook = ? WHERE id = ?", [group_hook_id, repo_id])


def group_members(db: sqlite_utils.Database, group_hook_id: int) -> list[int]:
    rows = db.execute("SELECT id FROM repos WHERE group_hook = ? ORDER BY id", [group_hook_id])
    return [int(r[0]) for r in rows.fetchall()]


def remove_group_hook(db: sqlite_utils.Database, group_hook_id: int) -> None:
    with db.conn:
        db.execute("UPDATE repos SET group_hook = NULL WHERE group_hook = ?", [group_hook_id])
        db.execute("DELETE FROM group_hooks WHERE id = ?", [group_hook_id])


def group_memberships(db: sqlite_utils.Database) -> dict[int, int]:
    """repo id -> the group hook (row id) that serves it."""
    rows = db.execute("SELECT id, group_hook FROM repos WHERE group_hook IS NOT NULL")
    return {int(r): int(g) for r, g in rows.fetchall()}
