"""The settings page in chromium: disabling the break-glass admin asks for a typed
confirmation and an LDAP account that signs in with the admin role, before anything changes."""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from revisor.store.db import open_database
from revisor.web.auth import local
from tests.browser.live import chromium, fill, open_page, serve, sign_in_as, sign_in_form, text
from tests.web.webapp import PASSWORD, init_settings

pytestmark = pytest.mark.browser


def test_break_glass_disable_needs_confirmation_and_a_working_ldap_admin(tmp_path: Path) -> None:
    settings, password = init_settings(tmp_path)
    assert password
    with serve(settings) as live, chromium(tmp_path) as b:
        sign_in_form(b, live, "admin", password)
        open_page(b, f"{live.base}/settings")
        submit = "document.querySelector('#break-glass-form').requestSubmit(); true"

        fill(b, {"ldap_username": "viewer-user", "ldap_password": PASSWORD}, "#break-glass-form")
        fill(b, {"confirm": "disable break-glass"}, "#break-glass-form")
        b.evaluate(submit)
        b.wait_for("document.querySelector('#break-glass-error') !== null")
        assert "does not have the admin role" in text(b)
        assert b.evaluate("document.querySelector('[name=ldap_username]').value") == "viewer-user"
        open_page(b, f"{live.base}/settings")  # still signed in: nothing was disabled
        assert "is enabled" in text(b)

        fill(b, {"ldap_username": "admin-user", "ldap_password": PASSWORD}, "#break-glass-form")
        fill(b, {"confirm": "disable break-glass"}, "#break-glass-form")
        b.evaluate(submit)
        b.wait_for("location.pathname === '/login'")  # its own session ended with it
    db = open_database(settings.db_path)
    assert not local.break_glass_enabled(db)
    db.conn.close()
    with closing(sqlite3.connect(f"file:{settings.audit_path}?mode=ro", uri=True)) as audit:
        changes = [
            row[0]
            for row in audit.execute(
                "SELECT outcome FROM audit WHERE event = 'config.changed' ORDER BY seq"
            )
        ]
    assert changes == ["failure", "success"]  # the refusal is on record too


def test_errors_are_pages_that_keep_the_form(tmp_path: Path) -> None:
    settings, _ = init_settings(tmp_path)
    with serve(settings) as live, chromium(tmp_path) as b:
        sign_in_as(b, live, "admin")
        open_page(b, f"{live.base}/jobs/424242")
        assert b.evaluate("document.contentType") == "text/html"
        assert b.evaluate("document.querySelector('h1').innerText") == "Not found"
        assert "no job 424242" in text(b)
        assert b.evaluate("document.querySelector('nav a[href=\"/jobs\"]') !== null")

        open_page(b, f"{live.base}/audit")
        fill(b, {"since": "last tuesday", "until": "2026-12-01"}, "#export-form")
        b.evaluate("document.querySelector('#export-form').requestSubmit(); true")
        b.wait_for("document.querySelector('#error-message') !== null")
        assert "not a time" in b.evaluate("document.querySelector('#error-message').innerText")
        kept = "document.querySelector('#error-form [name={}]').value"
        assert b.evaluate(kept.format("since")) == "last tuesday"
        assert b.evaluate(kept.format("until")) == "2026-12-01"
        assert "Content Security Policy" not in " ".join(b.console_messages())


def _api_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 (loopback)
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_an_api_token_is_shown_once_works_and_is_revoked(tmp_path: Path) -> None:
    settings, _ = init_settings(tmp_path)
    with serve(settings) as live, chromium(tmp_path) as b:
        sign_in_as(b, live, "admin")
        open_page(b, f"{live.base}/settings")
        b.evaluate("document.querySelector('a[href=\"/settings/tokens\"]').click(); true")
        b.wait_for("location.pathname === '/settings/tokens'")
        fill(b, {"name": "prometheus", "days": "30"}, "#token-form")
        b.evaluate("document.querySelector('[name=role_viewer]').checked = true; true")
        b.evaluate("document.querySelector('#token-form').requestSubmit(); true")
        b.wait_for("document.querySelector('#token-value') !== null")
        token = b.evaluate("document.querySelector('#token-value').innerText").strip()
        assert token.startswith("rvs_")
        assert _api_status(f"{live.base}/api/overview", token) == 200
        open_page(b, f"{live.base}/settings/tokens")
        assert token not in text(b)  # shown once
        assert "prometheus" in text(b)
        b.evaluate("document.querySelector('#tokens form button').click(); true")
        b.wait_for("document.body.innerText.includes('revoked')")
        assert _api_status(f"{live.base}/api/overview", token) == 401
