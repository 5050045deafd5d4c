"""The local break-glass admin: one account that works when LDAP does not.

`revisor init` calls `ensure_break_glass_admin()`, which creates the account once and returns
its generated password that one time (the CLI prints it, `--json` as `admin_password`); only an
argon2id hash is stored. Once LDAP works an admin disables it (`disable_break_glass`), which
also ends its sessions.
"""

from __future__ import annotations

import functools
import secrets

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from revisor.store.db import now

BREAK_GLASS_USER = "admin"
_hasher = PasswordHasher()  # argon2id with the library's current recommended cost


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the account does not exist keeps the timing of "no such
    account" close to that of "wrong password". Made on first use: hashing takes about a
    second, which every process start would otherwise pay."""
    return _hasher.hash("not-a-password-" + "x" * 16)


def ensure_break_glass_admin(db: sqlite_utils.Database) -> str | None:
    """Create the break-glass admin if it has never existed; return its password only then."""
    if db.execute("SELECT 1 FROM users WHERE username = ?", [BREAK_GLASS_USER]).fetchone():
        return None
    password = secrets.token_urlsafe(18)
    with db.conn:
        db.execute(
            "INSERT INTO users (username, source, display_name, password_hash, roles, created_at)"
            " VALUES (?, 'local', 'Break-glass admin', ?, 'admin', ?)",
            [BREAK_GLASS_USER, _hasher.hash(password), now()],
        )
    return password


def break_glass_enabled(db: sqlite_utils.Database) -> bool:
    row = db.execute(
        "SELECT disabled FROM users WHERE username = ? AND source = 'local'", [BREAK_GLASS_USER]
    ).fetchone()
    return row is not None and not row[0]


def disable_break_glass(db: sqlite_utils.Database) -> bool:
    """Disable the account and end its sessions. True if it was enabled."""
    with db.conn:
        cursor = db.execute(
            "UPDATE users SET disabled = 1 WHERE username = ? AND source = 'local'"
            " AND disabled = 0",
            [BREAK_GLASS_USER],
        )
        db.execute("DELETE FROM sessions WHERE username = ?", [f"local:{BREAK_GLASS_USER}"])
    return cursor.rowcount == 1


def verify_local(db: sqlite_utils.Database, username: str, password: str) -> bool:
    """True when `username` is an enabled local account and `password` is its password."""
    row = db.execute(
        "SELECT password_hash, disabled FROM users WHERE username = ? AND source = 'local'",
        [username],
    ).fetchone()
    dummy = _dummy_hash()
    stored = row[0] if row and row[0] and not row[1] else dummy
    try:
        ok = _hasher.verify(stored, password) and stored is not dummy
    except (VerificationError, InvalidHashError):
        return False
    if ok and _hasher.check_needs_rehash(stored):
        with db.conn:
            db.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?",
                [_hasher.hash(password), username],
            )
    return ok
