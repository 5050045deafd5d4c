"""Sign-in, sign-out, sessions, CSRF, throttling, break-glass admin and security headers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from litestar.testing import TestClient

from revisor.audit import AuditLog
from revisor.config import AuthSettings
from revisor.store.db import open_database
from revisor.web.auth import local, sessions
from revisor.web.auth.middleware import CSP
from revisor.web.auth.routes import safe_next
from tests.web.webapp import (
    PASSWORD,
    FakeDirectory,
    client_as,
    init_settings,
    login,
    login_token,
    make_app,
    session_cookie,
    settings_for,
)

HOST = "testserver.local"


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return settings_for(tmp_path, login_attempts_per_user=3, login_attempts_per_address=5)


def audit_events(settings) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    log = AuditLog(settings.audit_path)
    try:
        return [(r["event"], r["actor"], r["outcome"]) for r in log.records()]
    finally:
        log.close()


def test_good_login_sets_a_strict_httponly_session_cookie_and_is_audited(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        r = login(client, "maintainer-user", PASSWORD, next_="/jobs")
        assert r.status_code == 303
        assert r.headers["location"] == "/jobs"
        cookie = next(
            c for c in r.headers.get_list("set-cookie") if c.startswith("revisor_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Secure" not in cookie
        assert client.get("/jobs").status_code == 200
    events = audit_events(settings)
    assert ("auth.role.granted", "system:auth", "success") in events
    assert ("auth.signin.succeeded", "user:ldap:maintainer-user", "success") in events


def test_cookie_is_secure_when_configured(tmp_path: Path) -> None:
    s = settings_for(tmp_path, cookie_secure=True)
    # httpx only sends Secure cookies over https, so the client talks "https" to the app.
    with TestClient(make_app(s), base_url="https://testserver.local") as client:
        r = login(client, "viewer-user", PASSWORD)
        cookie = next(
            c for c in r.headers.get_list("set-cookie") if c.startswith("revisor_session=")
        )
        assert "Secure" in cookie
        assert r.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("tls", [True, False])
def test_cookies_are_secure_and_hsts_is_sent_whenever_tls_is_on(tmp_path: Path, tls: bool) -> None:
    s = settings_for(tmp_path)  # cookie_secure stays false: TLS alone must be enough
    if tls:
        web = dataclasses.replace(s.web, tls_cert="/x/cert.pem", tls_key="/x/key.pem")
        s = dataclasses.replace(s, web=web)
    with TestClient(make_app(s), base_url="https://testserver.local") as client:
        r = login(client, "viewer-user", PASSWORD)
        cookies = [
            c
            for c in r.headers.get_list("set-cookie")
            if c.startswith(("revisor_session=", "revisor_login_csrf="))
        ]
        assert len(cookies) == 2
        assert all(("Secure" in c) is tls for c in cookies)
        assert ("strict-transport-security" in r.headers) is tls


def test_login_issues_a_new_session_id_and_drops_the_old_one(settings) -> None:  # type: ignore[no-untyped-def]
    first, _ = session_cookie(settings, "viewer")  # a live session the browser already has
    with TestClient(make_app(settings)) as client:
        token = login_token(client)
        client.cookies.set(sessions.COOKIE, first, domain=HOST)
        assert client.get("/api/me").status_code == 200
        r = client.post(
            "/login",
            data={"username": "viewer-user", "password": PASSWORD, "_csrf": token},
            follow_redirects=False,
        )
        assert r.status_code == 303
        second = client.cookies.get(sessions.COOKIE, domain=HOST)
        assert second
        assert second != first
        client.cookies.set(sessions.COOKIE, first, domain=HOST)
        assert client.get("/api/me").status_code == 401  # the old id is gone


def test_role_granted_is_audited_only_when_new(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        login(client, "auditor-user", PASSWORD)
        login(client, "auditor-user", PASSWORD)
    granted = [e for e in audit_events(settings) if e[0] == "auth.role.granted"]
    assert len(granted) == 1


def test_wrong_password_is_refused_with_a_generic_message_and_audited(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        wrong = login(client, "viewer-user", "nope")
        unknown = login(client, "nobody", "nope")
        assert wrong.status_code == unknown.status_code == 401
        assert "Invalid username or password." in wrong.text
        assert "Invalid username or password." in unknown.text
        assert sessions.COOKIE not in client.cookies
    assert ("auth.signin.failed", "user:viewer-user", "failure") in audit_events(settings)


def test_empty_password_never_reaches_the_directory(settings) -> None:  # type: ignore[no-untyped-def]
    directory = FakeDirectory()
    with TestClient(make_app(settings, directory)) as client:
        assert login(client, "viewer-user", "").status_code == 401
    assert directory.calls == []


def test_user_without_a_role_cannot_sign_in(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        r = login(client, "norole", PASSWORD)
        assert r.status_code == 401
        assert "no role" in r.text


def test_directory_down_gives_a_clear_message(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings, FakeDirectory(down=True))) as client:
        r = login(client, "viewer-user", PASSWORD)
        assert r.status_code == 401
        assert "directory cannot be reached" in r.text


def test_login_form_needs_its_csrf_token(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        client.get("/login")
        r = client.post(
            "/login",
            data={"username": "viewer-user", "password": PASSWORD, "_csrf": "forged"},
            follow_redirects=False,
        )
        assert r.status_code == 403
        assert sessions.COOKIE not in client.cookies


def test_throttle_per_user_blocks_even_the_right_password(settings) -> None:  # type: ignore[no-untyped-def]
    directory = FakeDirectory()
    with TestClient(make_app(settings, directory)) as client:
        for _ in range(3):
            assert login(client, "viewer-user", "wrong").status_code == 401
        calls = len(directory.calls)
        r = login(client, "viewer-user", PASSWORD)
        assert r.status_code == 401
        assert "Too many failed sign-ins" in r.text
        assert len(directory.calls) == calls  # refused before asking the directory
        # another user from the same address is still allowed (address limit is 5)
        assert login(client, "admin-user", PASSWORD).status_code == 303


def test_throttle_per_address(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        for i in range(5):
            login(client, f"guess{i}", "wrong")
        r = login(client, "admin-user", PASSWORD)
        assert r.status_code == 401
        assert "Too many failed sign-ins" in r.text


def test_logout_needs_csrf_then_ends_the_session(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        login(client, "viewer-user", PASSWORD)
        me = client.get("/api/me").json()
        assert client.post("/logout", follow_redirects=False).status_code == 403
        r = client.post("/logout", data={"_csrf": me["csrf"]}, follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/api/me").status_code == 401
    assert ("auth.signout", "user:ldap:viewer-user", "success") in audit_events(settings)


def test_unsafe_requests_need_the_session_csrf_token(settings) -> None:  # type: ignore[no-untyped-def]
    app = make_app(settings)
    client, csrf = client_as(app, settings, "maintainer")
    with client:
        assert client.post("/api/jobs/999/cancel").status_code == 403
        assert (
            client.post("/api/jobs/999/cancel", headers={"x-csrf-token": "x" * 43}).status_code
            == 403
        )
        assert (
            client.post("/api/jobs/999/cancel", headers={"x-csrf-token": csrf}).status_code == 404
        )
        # the plain-form path: the token as the _csrf field
        r = client.post("/jobs/999/cancel", data={"_csrf": csrf})
        assert r.status_code == 404


def test_anonymous_browser_is_sent_to_sign_in_and_back(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        r = client.get(
            "/jobs?state=failed", headers={"accept": "text/html"}, follow_redirects=False
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/jobs%3Fstate%3Dfailed"
        assert client.get("/api/jobs").status_code == 401


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/jobs/3", "/jobs/3"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        (None, "/"),
    ],
)
def test_next_is_never_an_open_redirect(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_idle_and_absolute_timeouts(settings) -> None:  # type: ignore[no-untyped-def]
    db = open_database(settings.db_path)
    auth = AuthSettings(session_idle_minutes=30, session_absolute_hours=12)
    t0 = 1_000_000.0
    sid, _ = sessions.create(
        db, username="ldap:a", display_name="A", roles=frozenset({"viewer"}), source="", t=t0
    )
    assert sessions.lookup(db, auth, sid, t0 + 29 * 60) is not None  # touches last_seen
    assert sessions.lookup(db, auth, sid, t0 + 29 * 60 + 31 * 60) is None  # idle too long
    sid, _ = sessions.create(
        db, username="ldap:a", display_name="A", roles=frozenset({"viewer"}), source="", t=t0
    )
    t = t0
    while t < t0 + 12 * 3600:  # active all along, but the absolute limit still ends it
        t += 20 * 60
        found = sessions.lookup(db, auth, sid, t)
        if t - t0 > 12 * 3600:
            assert found is None
        else:
            assert found is not None
    db.conn.close()


def test_break_glass_admin_is_created_once_hashed_and_can_be_disabled(tmp_path: Path) -> None:
    settings, password = init_settings(tmp_path)  # `revisor init` creates it
    db = open_database(settings.db_path)
    assert password
    assert len(password) >= 20
    assert local.ensure_break_glass_admin(db) is None
    stored = db.execute("SELECT password_hash FROM users WHERE username = 'admin'").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert password not in stored
    with TestClient(make_app(settings)) as client:
        assert login(client, "admin", "wrong").status_code == 401
        assert login(client, "admin", password).status_code == 303
        me = client.get("/api/me").json()
        assert me["username"] == "local:admin"
        assert me["roles"] == ["admin"]
        r = client.post(
            "/settings/break-glass/disable", data={"_csrf": me["csrf"]}, follow_redirects=False
        )
        assert r.status_code == 409  # no confirmation, no LDAP admin checked: refused
        assert local.break_glass_enabled(db)
        r = client.post(
            "/settings/break-glass/disable",
            data={
                "_csrf": me["csrf"],
                "confirm": "disable break-glass",
                "ldap_username": "maintainer-user",  # signs in, but is not an admin
                "ldap_password": PASSWORD,
            },
            follow_redirects=False,
        )
        assert r.status_code == 409
        assert "does not have the admin role" in r.text
        assert 'value="maintainer-user"' in r.text  # what was typed is kept
        assert local.break_glass_enabled(db)
        r = client.post(
            "/settings/break-glass/disable",
            data={
                "_csrf": me["csrf"],
                "confirm": "disable break-glass",
                "ldap_username": "admin-user",
                "ldap_password": PASSWORD,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert client.get("/api/me").status_code == 401  # its sessions ended
        assert login(client, "admin", password).status_code == 401
    assert not local.break_glass_enabled(db)
    db.conn.close()


def test_security_headers_and_csp_without_inline_script(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        r = client.get("/login")
        assert r.headers["content-security-policy"] == CSP
        assert "unsafe-inline" not in CSP
        assert "unsafe-eval" not in CSP
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"


TEMPLATES = Path(__file__).parents[3] / "src" / "revisor" / "web" / "templates"


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_need_no_inline_script_style_or_cdn(template: str) -> None:
    text = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline <script>"
    assert not re.search(r"\sstyle=", text), "inline style attribute"
    assert not re.search(r"<style", text), "inline <style>"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"
    assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", text), "external URL"


def test_webhooks_and_probes_never_look_up_sessions(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def boom(*_: object) -> None:
        raise AssertionError("session lookup on a webhook or probe path")

    app = make_app(settings)
    monkeypatch.setattr(sessions, "lookup", boom)
    with TestClient(app) as client:
        client.cookies.set(sessions.COOKIE, "whatever", domain=HOST)
        assert client.get("/healthz").status_code == 200
        assert (
            client.post("/hooks/gitlab", content=b"{}").status_code == 401
        )  # signature, not session
        assert client.get("/static/htmx.min.js").status_code == 200
        assert client.get("/jobs").status_code == 500  # proves the patch is live for pages


def test_sessions_table_stores_only_digests(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(make_app(settings)) as client:
        login(client, "viewer-user", PASSWORD)
        sid = client.cookies.get(sessions.COOKIE)
    db = open_database(settings.db_path)
    rows = [r[0] for r in db.execute("SELECT id_hash FROM sessions").fetchall()]
    db.conn.close()
    assert rows
    assert sid not in rows
