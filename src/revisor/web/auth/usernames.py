"""What a failed sign-in may say about the username it was given.

People type their password into the username field. Such a string must not reach the audit
log (which is exported and shipped off the box) or the throttle table. The rule:

- the name is recorded as typed only when it has the shape of a username AND it is known to be
  one: a user Revisor has seen sign in (the `users` table), or an entry the directory found
  (the password, not the name, was wrong);
- any other name is recorded as a keyed hash (HMAC-SHA256 under a key derived from the
  key-encryption key, which stays on the box): repeated attempts with the same string can be
  correlated, and a leaked audit export does not let anyone test guesses against it.

The throttle always counts by the keyed hash, so its table never holds a typed name either.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import sqlite_utils

SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}\Z")
DIGEST_HEX = 24  # 96 bits: enough to tell attempts apart


def hash_key(kek: bytes) -> bytes:
    """The key for username hashes, derived so the KEK itself is never used for two things."""
    return hmac.new(kek, b"revisor:username-hash:v1", hashlib.sha256).digest()


def digest(key: bytes, name: str) -> str:
    return hmac.new(key, name.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:DIGEST_HEX]


def has_username_shape(name: str) -> bool:
    return SHAPE.match(name) is not None


def seen_before(db: sqlite_utils.Database, key: str) -> bool:
    """A local account or a directory user that has signed in before."""
    row = db.execute(
        "SELECT 1 FROM users WHERE username IN (?, ?)", [key, f"ldap:{key}"]
    ).fetchone()
    return row is not None


def failed_actor(key: str, *, known: bool, hash_key: bytes) -> tuple[str, dict[str, str]]:
    """The audit actor (and extra details) for a failed sign-in as `key` (lower-cased)."""
    if not key:
        return "anonymous", {}
    if known and has_username_shape(key):
        return f"user:{key}", {}
    return "anonymous", {"username_hmac": digest(hash_key, key)}
