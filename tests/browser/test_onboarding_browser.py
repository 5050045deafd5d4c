"""Onboarding on the dashboard in headless chromium, against the strict fake GitLab and the
real app receiving the test deliveries: connect a server once, list its projects, enable one
project and then a whole group (webhooks created and verified), see the last delivery, remove a
repository (its webhook goes too). Maintainers cannot use the server's admin token."""

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
from tests.fakes.forge_admin import FakeGitLabAdmin
from tests.fakes.model import FakeFile
from tests.ldap.slapd import free_port
from tests.web.webapp import init_settings

pytestmark = pytest.mark.browser

TOKEN = "glpat-dashboard-onboarding-0123456789"
DIFF = "@@ -1 +1 @@\n-a\n+b\n"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    b = open_browser(tmp_path)
    yield b
    b.close()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLabAdmin]:
    fake = FakeGitLabAdmin(token=TOKEN)
    fake.start()
    for project in ("platform/app", "platform/lib"):
        fake.add_project(project)
        fake.add_merge_request(project, 1, files=[FakeFile("a.py", DIFF)])
    fake.add_project("platform/readonly", access_level=30)
    yield fake
    fake.stop()


def test_an_admin_connects_a_server_and_enables_a_project_then_a_group(
    tmp_path: Path, browser: Browser, gitlab: FakeGitLabAdmin
) -> None:
    settings, _ = init_settings(tmp_path)
    port = free_port()
    settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server, port=port))
    db = open_database(settings.db_path)
    server, _ = servers.allow(db, gitlab.url, added_by="test")
    with serve(settings, port=port) as base:
        sign_in(browser, base, settings, "maintainer")
        browser.goto(f"{base}/servers/{server.id}")
        assert "Connect" not in text(browser)  # the admin token is for admins only

        sign_in(browser, base, settings, "admin")
        browser.goto(f"{base}/servers")
        browser.evaluate(f"document.querySelector('a[href=\"/servers/{server.id}\"]').click()")
        browser.wait_for("document.getElementById('connect-form') !== null")
        submit(browser, "#connect-form", {"kind": "gitlab", "token": "glpat-wrong"})
        assert "Not connected" in text(browser)
        assert "401" in text(browser)
        submit(browser, "#connect-form", {"kind": "gitlab", "token": TOKEN})
        page = text(browser)
        assert "Connected as revisor-bot" in page
        assert "platform/app" in page
        assert "platform/readonly" not in page

        submit(browser, "tr[data-project='platform/app'] form", {})
        page = text(browser)
        assert "Enabled platform/app: test delivery received." in page
        row = "document.querySelector(\"tr[data-project='platform/app']\").innerText"
        assert "created by Revisor" in browser.evaluate(row)
        assert "Merge Request Hook (ignored)" in browser.evaluate(row)

        submit(browser, "#projects form[method='get']", {"group": "platform"})
        submit(browser, "#enable-group", {})
        assert "Enabled platform/lib: test delivery received." in text(browser)
        assert len(gitlab.hooks) == 2
        browser.screenshot(tmp_path / "server.png")

        browser.goto(f"{base}/repos")
        assert "Merge Request Hook (ignored)" in text(browser)  # the last delivery, per repo
        app = repos.get_by_key(db, repos.ForgeKind.GITLAB, gitlab.url, "platform/app")
        assert app is not None
        browser.goto(f"{base}/repos/{app.id}")
        last = browser.evaluate("document.getElementById('last-delivery').innerText")
        assert last.startswith("Merge Request Hook (ignored)")
        submit(browser, "form[action$='/delete']", {"confirm": "platform/app"})
        assert "removed, with its jobs and its webhook" in text(browser)
        assert [h["project"] for h in gitlab.hooks.values()] == ["platform/lib"]
    db.conn.close()
    audit = AuditLog.from_settings(settings)
    try:
        seen = [(r["event"], r["outcome"]) for r in audit.records()]
    finally:
        audit.close()
    assert seen.count(("forge.hook.created", "success")) == 2
    assert seen.count(("forge.hook.tested", "success")) == 2
    assert ("forge.hook.removed", "success") in seen


def test_an_admin_enables_a_group_with_one_group_hook_then_disables_it(
    tmp_path: Path, browser: Browser, gitlab: FakeGitLabAdmin
) -> None:
    settings, _ = init_settings(tmp_path)
    port = free_port()
    settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server, port=port))
    db = open_database(settings.db_path)
    server, _ = servers.allow(db, gitlab.url, added_by="test")
    with serve(settings, port=port) as base:
        sign_in(browser, base, settings, "admin")
        browser.goto(f"{base}/servers/{server.id}")
        submit(browser, "#connect-form", {"kind": "gitlab", "token": TOKEN})
        submit(browser, "#projects form[method='get']", {"group": "platform"})
        browser.evaluate("document.querySelector('#enable-group [name=group_hook]').checked = true")
        submit(browser, "#enable-group", {})
        page = text(browser)
        assert "Enabled platform/app: test delivery received." in page
        assert "Enabled platform/lib" in page
        (hook,) = gitlab.hooks.values()
        assert (hook["group"], hook["url"]) == ("platform", f"http://127.0.0.1:{port}/hooks/gitlab")
        assert "platform (webhook" in text(browser)
        submit(browser, "#group-hooks form", {})
        assert "Group hook on platform deleted" in text(browser)
        assert not gitlab.hooks
        assert repos.list_all(db) == []
    db.conn.close()
