"""Login throttling: exponential backoff per source address, never a lockout of an account.

Two counts of failed sign-ins within the window, both tied to the client's address:

- one username from one address (`login_attempts_per_user` free attempts; a success from that
  address starts the count again);
- every username from one address (`login_attempts_per_address` free attempts; a success does
  not reset it: one good account must not unlock guessing at others from the same place).

Past the free attempts, the next attempt must wait `base`, then `2*base`, `4*base` ... (at most
`max`) after the last failure, and is refused before any password is checked (LDAP is not
hammered). No count spans addresses, so failures from one address can never keep the same
user, the break-glass admin included, from signing in from another. Refused attempts are not
counted: waiting out the delay is always enough.

Usernames are stored as the caller gives them: `routes.sign_in` passes a keyed hash, so a
password typed into the username field is not kept in the clear here either.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from revisor.backoff import backoff as backoff_wait
from revisor.config import AuthSettings


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    retry_after: float = 0.0  # seconds until the next attempt is allowed


def backoff(failures: int, free: int, base: float, cap: float) -> float:
    """Seconds the next attempt must wait after the last failure: 0 while `failures < free`,
    then base, 2*base, 4*base ..., never more than `cap`."""
    return 0.0 if failures < free else backoff_wait(failures - free + 1, base, cap)


def _wait(count: int, last: float | None, free: int, settings: AuthSettings, t: float) -> float:
    if not count or last is None:
        return 0.0
    delay = backoff(
        count, free, settings.login_backoff_base_seconds, settings.login_backoff_max_seconds
    )
    return max(0.0, last + delay - t)


def check(
    db: sqlite_utils.Database, settings: AuthSettings, username: str, address: str, t: float
) -> Verdict:
    since = t - settings.login_window_minutes * 60
    count, last = db.execute(
        "SELECT count(*), max(at) FROM login_attempts"
        " WHERE username = ? AND address = ? AND ok = 0 AND at >= ? AND at > coalesce("
        "(SELECT max(at) FROM login_attempts WHERE username = ? AND address = ? AND ok = 1), 0)",
        [username, address, since, username, address],
    ).fetchone()
    wait = _wait(count, last, settings.login_attempts_per_user, settings, t)
    if wait > 0:
        return Verdict(False, "too many failed sign-ins for this user from this address", wait)
    count, last = db.execute(
        "SELECT count(*), max(at) FROM login_attempts WHERE address = ? AND ok = 0 AND at >= ?",
        [address, since],
    ).fetchone()
    wait = _wait(count, last, settings.login_attempts_per_address, settings, t)
    if wait > 0:
        return Verdict(False, "too many failed sign-ins from this address", wait)
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
            [username[:256], address, int(ok), t],
        )
        db.execute("DELETE FROM login_attempts WHERE at < ?", [t - keep_seconds])
