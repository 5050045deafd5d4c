"""A password typed into the username field never reaches the audit log or the throttle table."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from revisor.audit import AuditLog
from revisor.config import Settings
from revisor.store.db import open_database
from revisor.web.auth import usernames
from tests.web.webapp import PASSWORD, login, settings_for

from .test_signin import audit_events, make_app

# Shapes people really type by mistake: a password with symbols, one that looks like a name.
TYPED_PASSWORDS = ("Tr0ub4dor&3!x", "hunter2hunter2", PASSWORD)


def stored_bytes(settings: Settings) -> bytes:
    """Everything on disk that could keep a typed name: the audit and main databases."""
    found = b""
    for path in settings.data_dir.rglob("*.db*"):
        found += path.read_bytes()
    return found


def failed_records(settings: Settings) -> list[dict[str, object]]:
    log = AuditLog(settings.audit_path)
    try:
        return [r for r in log.records() if r["event"] == "auth.signin.failed"]
    finally:
        log.close()


@pytest.mark.parametrize("typed", TYPED_PASSWORDS)
def test_a_password_in_the_username_field_is_not_stored(tmp_path: Path, typed: str) -> None:
    settings = settings_for(tmp_path)
    with TestClient(make_app(settings)) as client:
        assert login(client, typed, "whatever was in the password field").status_code == 401
        assert login(client, typed, "").status_code == 401  # refused before the directory
    records = failed_records(settings)
    assert len(records) == 2
    for record in records:
        assert record["actor"] == "anonymous"
        assert typed.lower() not in str(record).lower()
    # the keyed hash lets an auditor see both attempts used the same string
    hashes = {r["details"]["username_hmac"] for r in records}  # type: ignore[index]
    assert len(hashes) == 1
    assert typed.lower().encode() not in stored_bytes(settings).lower()


def test_known_users_are_named(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    app = make_app(settings)
    for name, password in (
        ("viewer-user", "wrong"),  # the directory has this user
        ("auditor-user", PASSWORD),  # signs in: now a known user
        ("auditor-user", ""),  # empty password: known from the users table
        ("admin", "wrong"),  # the break-glass account
    ):
        with TestClient(app) as client:
            login(client, name, password)
    events = audit_events(settings)
    assert ("auth.signin.failed", "user:viewer-user", "failure") in events
    assert ("auth.signin.failed", "user:auditor-user", "failure") in events
    assert ("auth.signin.failed", "user:admin", "failure") in events


def test_the_hash_is_keyed() -> None:
    one, two = usernames.hash_key(b"k" * 32), usernames.hash_key(b"j" * 32)
    assert usernames.digest(one, "hunter2") != usernames.digest(two, "hunter2")
    assert usernames.digest(one, "hunter2") == usernames.digest(one, "hunter2")


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("alice", True),
        ("a.b-c_d@example.org", True),
        ("Tr0ub4dor&3!x", False),
        ("with space", False),
        ("", False),
        ("x" * 129, False),
    ],
)
def test_username_shape(name: str, shape: bool) -> None:
    assert usernames.has_username_shape(name) is shape


def test_a_known_name_with_a_bad_shape_is_still_hashed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    db = open_database(settings.db_path)
    try:
        with db.conn:
            db.execute(
                "INSERT INTO users (username, source, display_name, roles, created_at)"
                " VALUES ('ldap:odd name!', 'ldap', 'Odd', 'viewer', 0)"
            )
        assert usernames.seen_before(db, "odd name!")
    finally:
        db.conn.close()
    actor, details = usernames.failed_actor("odd name!", known=True, hash_key=b"k" * 32)
    assert actor == "anonymous"
    assert "username_hmac" in details
