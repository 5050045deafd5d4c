"""The dashboard's side of Git servers: admins allow them, maintainers add repositories on them
only, a refused form comes back with the error and what was typed, CA files stay in ca/."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar

from revisor.audit import AuditLog
from revisor.config import Settings
from revisor.context import Context
from revisor.forges import Access
from revisor.outbound import configured_egress
from revisor.store import repos, servers
from revisor.store.db import open_database
from tests.test_gitservers import BAD_URLS
from tests.web.webapp import client_as, make_app, settings_for

TOKEN = "glpat-dashboard-token-0123456789"


@dataclass
class World:
    settings: Settings
    app: Litestar


@pytest.fixture(autouse=True)
def servers_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fictional gitlab.test and gitea.test say yes to every token here: these tests are
    about which servers may be used; the check with the server is tested against a fake API
    (tests/browser/test_repos_browser.py)."""
    monkeypatch.setattr(
        "revisor.web.dashboard.repo_checks.check_access",
        lambda target, egress: Access(True, f"{target.project} reachable"),
    )


@pytest.fixture
def world(tmp_path: Path) -> World:
    settings = settings_for(tmp_path)
    db = open_database(settings.db_path)
    servers.allow(db, "https://gitlab.test", added_by="test")
    db.conn.close()
    return World(settings, make_app(settings))


def egress_hosts(settings: Settings) -> frozenset[tuple[str, int]]:
    rt = Context(settings)
    try:
        return configured_egress(rt.settings, rt.db).allowed
    finally:
        rt.close()


def registered(settings: Settings) -> list[repos.Repo]:
    db = open_database(settings.db_path)
    try:
        return repos.list_all(db)
    finally:
        db.conn.close()


def add_repo(world: World, role: str, **form: str):  # type: ignore[no-untyped-def]
    client, csrf = client_as(world.app, world.settings, role)
    data = {"_csrf": csrf, "forge": "gitlab", "project": "g/app", "token": TOKEN, **form}
    with client:
        return client.post("/repos/new", data=data)


def test_a_maintainer_adds_repositories_on_allowed_servers_only(world: World) -> None:
    before = egress_hosts(world.settings)
    r = add_repo(world, "maintainer", server="https://gitea.test:3000/", project="o/secret-app")
    assert r.status_code == 400
    text = html.unescape(r.text)
    assert "https://gitea.test:3000 is not on the list of allowed servers" in text
    # the form keeps what was typed, except the token
    assert 'value="https://gitea.test:3000/"' in r.text
    assert 'value="o/secret-app"' in r.text
    assert TOKEN not in r.text
    assert registered(world.settings) == []
    assert egress_hosts(world.settings) == before
    assert ("gitea.test", 3000) not in before

    r = add_repo(world, "maintainer", server="https://gitlab.test")
    assert r.status_code == 200
    assert [x.server for x in registered(world.settings)] == ["https://gitlab.test"]
    assert egress_hosts(world.settings) == before  # adding a repository widens nothing


ONE_PER_CLASS = list({why: (url, why) for url, why in reversed(BAD_URLS)}.values())


@pytest.mark.parametrize(("url", "why"), ONE_PER_CLASS, ids=[w for _, w in ONE_PER_CLASS])
def test_the_add_form_shows_why_a_url_is_refused(world: World, url: str, why: str) -> None:
    r = add_repo(world, "maintainer", server=url)
    assert r.status_code == 400
    assert why in html.unescape(r.text)
    assert 'role="alert"' in r.text
    assert registered(world.settings) == []


def test_only_admins_allow_and_remove_servers_and_it_is_audited(world: World) -> None:
    client, csrf = client_as(world.app, world.settings, "maintainer")
    with client:
        assert client.get("/servers").status_code == 200
        r = client.post("/servers/new", data={"_csrf": csrf, "url": "https://gitea.test"})
        assert r.status_code == 403
    assert ("gitea.test", 443) not in egress_hosts(world.settings)

    client, csrf = client_as(world.app, world.settings, "admin")
    with client:
        bad = client.post("/servers/new", data={"_csrf": csrf, "url": "https://a:b@gitea.test"})
        assert bad.status_code == 400
        assert "user-info" in html.unescape(bad.text)
        assert 'value="https://a:b@gitea.test"' in bad.text
        ok = client.post("/servers/new", data={"_csrf": csrf, "url": "HTTPS://Gitea.Test/"})
        assert ok.status_code == 200
        assert "Git server https://gitea.test allowed." in ok.text
    assert ("gitea.test", 443) in egress_hosts(world.settings)
    assert (
        add_repo(world, "maintainer", server="https://gitea.test", forge="gitea").status_code == 200
    )

    db = open_database(world.settings.db_path)
    ids = {s.url: s.id for s in servers.list_all(db)}
    db.conn.close()
    with client:
        busy = client.post(f"/servers/{ids['https://gitea.test']}/remove", data={"_csrf": csrf})
        assert busy.status_code == 409
        assert "remove them first" in busy.text
        gone = client.post(f"/servers/{ids['https://gitlab.test']}/remove", data={"_csrf": csrf})
        assert gone.status_code == 200
    assert ("gitlab.test", 443) not in egress_hosts(world.settings)
    log = AuditLog(world.settings.audit_path)
    try:
        events = [
            (r["event"], r["actor"], r["target"])
            for r in log.records()
            if r["event"].startswith("server.")
        ]
    finally:
        log.close()
    assert events == [
        ("server.allowed", "user:ldap:admin-user", "server:https://gitea.test"),
        ("server.removed", "user:ldap:admin-user", "server:https://gitlab.test"),
    ]


@pytest.fixture
def ca_dir(world: World) -> Path:
    d = world.settings.data_dir / "ca"  # made by `revisor init`
    (d / "gitlab.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    os.symlink(world.settings.keys_dir, d / "keys")
    return d


@pytest.mark.parametrize(
    "ca_file",
    [
        "/etc/passwd",
        "../revisor.toml",
        "{data}/keys/audit_ed25519.pem",
        "{data}/ca/../revisor.db",
        "keys/audit_ed25519.pem",  # through a symbolic link inside ca/
    ],
)
def test_a_ca_file_outside_the_ca_directory_is_refused(
    world: World, ca_dir: Path, ca_file: str
) -> None:
    typed = ca_file.replace("{data}", str(world.settings.data_dir))
    r = add_repo(world, "maintainer", server="https://gitlab.test", ca_file=typed)
    assert r.status_code == 400
    assert f"CA bundles must lie in {ca_dir.resolve()}" in html.unescape(r.text)
    assert registered(world.settings) == []


def test_a_ca_file_in_the_ca_directory_is_stored_resolved(world: World, ca_dir: Path) -> None:
    r = add_repo(world, "maintainer", server="https://gitlab.test", ca_file="gitlab.pem")
    assert r.status_code == 200
    [repo] = registered(world.settings)
    assert repo.ca_file == str((ca_dir / "gitlab.pem").resolve())
