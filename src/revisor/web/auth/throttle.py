"""Login throttling: too many failed sign-ins for one username or from one address in the
window, and further attempts are refused before any password is checked (so a locked-out
attacker cannot keep guessing, and LDAP is not hammered). A success does not reset the count
for the address: one good account must not unlock guessing at others from the same place.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from revisor.config import AuthSettings


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


def check(
    db: sqlite_utils.Database, settings: AuthSettings, username: str, address: str, t: float
) -> Verdict:
    since = t - settings.login_window_minutes * 60
    by_user = db.execute(
        "SELECT count(*) FROM login_attempts WHERE username = ? AND ok = 0 AND at >= ?"
        " AND at > coalesce((SELECT max(at) FROM login_attempts WHERE username = ? AND ok = 1), 0)",
        [username.lower(), since, username.lower()],
    ).fetchone()[0]
    if by_user >= settings.login_attempts_per_user:
        return Verdict(False, "too many failed sign-ins for this user")
    by_address = db.execute(
        "SELECT count(*) FROM login_attempts WHERE address = ? AND ok = 0 AND at >= ?",
        [address, since],
    ).fetchone()[0]
    if by_address >= settings.login_attempts_per_address:
        return Verdict(False, "too many failed sign-ins from this address")
    return Verdict(True)


def record(
    db: sqlite_utils.Database,
    username: str,
    address: str,
    ok: bool,
    t: float,
    *,
    keep_seconds: float = 86400,
) -> None:
    with db.conn:
        db.execute(
            "INSERT INTO login_attempts (username, address, ok, at) VALUES (?, ?, ?, ?)",
            [username.lower()[:256], address, int(ok), t],
        )
        db.execute("DELETE FROM login_attempts WHERE at < ?", [t - keep_seconds])
