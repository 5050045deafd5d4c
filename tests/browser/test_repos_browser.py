"""Adding a repository in headless chromium: the path shape, the token and the project are
checked with the Git server before anything is stored, a refusal keeps what was typed, the
webhook URL names the port really served, "Test connection" asks the server again, and a
repository can be removed (after typing its path). Against the doctor's fake forge API."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from revisor.audit import AuditLog
from revisor.store import repos, servers
from revisor.store.db import open_database
from tests.browser.cdp import Browser, chromium_available
from tests.browser.serving import open_browser, serve, sign_in, submit, text
from tests.ldap.slapd import free_port
from tests.ops.conftest import TOKEN, FakeForgeApi
from tests.web.webapp import init_settings

pytestmark = pytest.mark.browser

ADD = "form[action='/repos/new']"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    b = open_browser(tmp_path)
    yield b
    b.close()


@pytest.fixture
def api() -> Iterator[FakeForgeApi]:
    fake = FakeForgeApi()
    fake.start()
    yield fake
    fake.stop()


def typed(browser: Browser, name: str) -> str:
    return str(browser.evaluate(f"document.querySelector(\"{ADD} [name='{name}']\").value"))


def test_adding_checks_with_the_server_keeps_the_form_and_shows_the_served_port(
    tmp_path: Path, browser: Browser, api: FakeForgeApi
) -> None:
    settings, _ = init_settings(tmp_path)
    port = free_port()
    settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server, port=port))
    db = open_database(settings.db_path)
    servers.allow(db, api.url, added_by="test")
    with serve(settings, port=port) as base:
        sign_in(browser, base, settings, "maintainer")
        browser.goto(f"{base}/repos")
        form = {"forge": "gitlab", "server": api.url, "token": TOKEN}

        submit(browser, ADD, {**form, "project": "app"})  # no group
        assert "has no group" in text(browser)
        assert (typed(browser, "server"), typed(browser, "project")) == (api.url, "app")

        submit(browser, ADD, {**form, "project": "group/app", "token": "wrong"})
        assert "refused the token" in text(browser)
        assert typed(browser, "project") == "group/app"

        submit(browser, ADD, {**form, "project": "group/missing"})
        assert "group/missing: HTTP 404" in text(browser)
        assert not repos.list_all(db)  # nothing stored by any refusal

        submit(browser, ADD, {**form, "project": "group/app"})
        page = text(browser)
        assert "Repository added." in page
        (repo,) = repos.list_all(db)
        assert f"http://127.0.0.1:{port}/hooks/gitlab/{repo.hook_key}" in page

        submit(browser, "form[action$='/test']", {})
        assert "Connection test passed: group/app reachable" in text(browser)
        api.token = "rotated"
        submit(browser, "form[action$='/test']", {})
        assert "HTTP 401" in text(browser)

        submit(browser, "form[action$='/delete']", {"confirm": "group/ap"})
        assert "to confirm the removal" in text(browser)
        assert repos.list_all(db)
        submit(browser, "form[action$='/delete']", {"confirm": "group/app"})
        assert "Repository group/app removed" in text(browser)
        assert not repos.list_all(db)
        browser.screenshot(tmp_path / "repos.png")
    db.conn.close()
    audit = AuditLog.from_settings(settings)
    try:
        events = [(r["event"], r["outcome"]) for r in audit.records()]
    finally:
        audit.close()
    checks = [o for e, o in events if e == "repo.checked"]
    assert checks == ["failure", "failure", "failure", "success", "success", "failure"]
    assert ("repo.added", "success") in events
    assert ("repo.removed", "success") in events
