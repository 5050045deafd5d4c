"""Sign-in throttling: exponential backoff per source address, never a lockout of an account.
Time is injected (no sleeps): `throttle.check` takes `t`, `AuthContext.clock` is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from revisor.config import AuthSettings
from revisor.store.db import open_database
from revisor.web.auth import throttle
from revisor.web.auth.routes import AuthContext, SignedIn, sign_in
from revisor.web.resources import WebResources
from tests.web.webapp import FakeDirectory, init_settings

AUTH = AuthSettings(
    login_attempts_per_user=3,
    login_attempts_per_address=10,
    login_window_minutes=60,
    login_backoff_base_seconds=10.0,
    login_backoff_max_seconds=300.0,
)
T0 = 1_700_000_000.0
ATTACKER, ADMIN_DESK = "198.51.100.66", "10.20.0.4"


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return open_database(tmp_path / "revisor.db")


def fail(db: sqlite_utils.Database, user: str, address: str, t: float) -> None:
    throttle.record(db, user, address, False, t)


def test_backoff_doubles_after_the_free_attempts_and_is_capped() -> None:
    waits = [throttle.backoff(n, 3, 10.0, 300.0) for n in range(10)]
    assert waits == [0, 0, 0, 10, 20, 40, 80, 160, 300, 300]
    assert throttle.backoff(10_000, 3, 10.0, 300.0) == 300.0


def test_waiting_out_the_delay_is_enough_and_the_next_failure_doubles_it(db) -> None:  # type: ignore[no-untyped-def]
    t = T0
    for _ in range(3):
        assert throttle.check(db, AUTH, "admin", ATTACKER, t).allowed
        fail(db, "admin", ATTACKER, t)
        t += 1
    last = t - 1
    refused = throttle.check(db, AUTH, "admin", ATTACKER, last + 9.5)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.5)
    assert throttle.check(db, AUTH, "admin", ATTACKER, last + 10).allowed
    fail(db, "admin", ATTACKER, last + 10)
    assert not throttle.check(db, AUTH, "admin", ATTACKER, last + 10 + 19).allowed
    assert throttle.check(db, AUTH, "admin", ATTACKER, last + 10 + 20).allowed


def test_the_delay_never_exceeds_the_cap(db) -> None:  # type: ignore[no-untyped-def]
    t = T0
    for _ in range(9):  # attacker keeps failing, each time as soon as allowed
        verdict = throttle.check(db, AUTH, "admin", ATTACKER, t)
        t += verdict.retry_after
        fail(db, "admin", ATTACKER, t)
    verdict = throttle.check(db, AUTH, "admin", ATTACKER, t)
    assert not verdict.allowed
    assert verdict.retry_after == AUTH.login_backoff_max_seconds


def test_failures_from_one_address_never_hold_back_another(db) -> None:  # type: ignore[no-untyped-def]
    t = T0
    for _ in range(50):
        fail(db, "admin", ATTACKER, t)
        t += 0.1
    assert not throttle.check(db, AUTH, "admin", ATTACKER, t).allowed
    assert throttle.check(db, AUTH, "admin", ADMIN_DESK, t).allowed


def test_many_usernames_from_one_address_back_off_too(db) -> None:  # type: ignore[no-untyped-def]
    for i in range(10):
        fail(db, f"guess{i}", ATTACKER, T0 + i)
    verdict = throttle.check(db, AUTH, "someone-new", ATTACKER, T0 + 10)
    assert not verdict.allowed
    assert "from this address" in verdict.reason
    assert throttle.check(db, AUTH, "someone-new", ADMIN_DESK, T0 + 10).allowed


def test_attacker_cannot_lock_the_break_glass_admin_out(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """An attacker hammering `admin` from one address, past every limit: the admin still signs
    in from the desk, at once; the attacker, even with the right password, has to wait."""
    settings, password = init_settings(
        tmp_path,
        login_attempts_per_user=3,
        login_attempts_per_address=10,
        login_backoff_base_seconds=10.0,
        login_backoff_max_seconds=300.0,
    )
    assert password
    resources = WebResources.open(settings, authenticator=FakeDirectory())
    request.addfinalizer(resources.close)
    ctx: AuthContext = resources.auth
    now = [T0]
    ctx.clock = lambda: now[0]
    for _ in range(40):
        sign_in(ctx, "admin", "not-the-password", address=ATTACKER, replaces=None)
        now[0] += 1.0
    held = sign_in(ctx, "admin", password, address=ATTACKER, replaces=None)
    assert isinstance(held, str)
    assert "Try again in" in held
    desk = sign_in(ctx, "admin", password, address=ADMIN_DESK, replaces=None)
    assert isinstance(desk, SignedIn)
    assert desk.principal.username == "local:admin"
    now[0] += AUTH.login_backoff_max_seconds
    assert isinstance(sign_in(ctx, "admin", password, address=ATTACKER, replaces=None), SignedIn)
