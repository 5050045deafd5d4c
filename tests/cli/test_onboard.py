"""Onboarding from the CLI against the strict fakes, with the real web app receiving the test
deliveries: connect a server once, list its projects, enable a project and a whole group (the
webhook created with its secret and verified by a delivery the intake recorded), disable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from revisor import config
from revisor.audit import AuditLog
from revisor.cli import main
from revisor.secrets import KeyRing
from revisor.store import connections, repos
from revisor.store.db import open_database
from tests.browser.serving import serve
from tests.fakes.forge_admin import FakeGiteaAdmin, FakeGitLabAdmin
from tests.fakes.model import FakeFile
from tests.ldap.slapd import free_port

GL_TOKEN = "glpat-onboarding-admin-0123456789"
GT_TOKEN = "gitea-onboarding-admin-0123456789"
DIFF = "@@ -1 +1 @@\n-a\n+b\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, int]]:
    port = free_port()
    monkeypatch.setenv("REVISOR_SERVER__PORT", str(port))  # the app the deliveries reach
    d = tmp_path / "data"
    assert run(capsys, "init", "--data-dir", str(d))[0] == 0
    (tmp_path / "gl-token").write_text(GL_TOKEN + "\n")
    (tmp_path / "gt-token").write_text(GT_TOKEN + "\n")
    (tmp_path / "bad-token").write_text("glpat-wrong\n")
    return d, port


def events(d: Path) -> list[tuple[str, str]]:
    log = AuditLog(d / "audit.db")
    try:
        return [(r["event"], r["outcome"]) for r in log.records()]
    finally:
        log.close()


def test_gitlab_connect_list_enable_a_project_and_a_group_then_disable(
    data: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    d, port = data
    gitlab = FakeGitLabAdmin(token=GL_TOKEN)
    url = gitlab.start()
    try:
        for project in ("platform/app", "platform/lib", "platform/sub/svc"):
            gitlab.add_project(project)
            gitlab.add_merge_request(project, 1, files=[FakeFile("a.py", DIFF)])
        gitlab.add_project("platform/readonly", access_level=30)
        gitlab.add_project("other/x")
        dd = ("--data-dir", str(d))

        code, _, err = run(capsys, "server", "connect", url, "--kind", "gitlab",
                           "--token-file", str(d.parent / "bad-token"), *dd)  # fmt: skip
        assert code != 0
        assert "401" in err
        code, out, _ = run(capsys, "server", "connect", url, "--kind", "gitlab",
                           "--token-file", str(d.parent / "gl-token"), *dd)  # fmt: skip
        assert code == 0
        assert "as revisor-bot" in out
        assert run(capsys, "server", "test", url, *dd)[0] == 0

        code, out, _ = run(capsys, "server", "projects", url, "--group", "platform", "--json", *dd)
        listed = [p["project"] for p in json.loads(out)]
        assert listed == ["platform/app", "platform/lib", "platform/sub/svc"]

        settings = config.load(d)
        with serve(settings, port=port):
            code, out, err = run(capsys, "repo", "enable", "--server", url, "platform/app",
                                 "--json", *dd)  # fmt: skip
            assert code == 0, err
            (enabled,) = json.loads(out)["enabled"]
            assert enabled["verified"] is True, enabled
            code, out, err = run(capsys, "repo", "enable", "--server", url,
                                 "--group", "platform", "--json", *dd)  # fmt: skip
            assert code == 0, err
            assert sorted(e["project"] for e in json.loads(out)["enabled"]) == [
                "platform/lib",
                "platform/sub/svc",
            ]

        db = open_database(d / "revisor.db")
        keys = KeyRing.load(d / "keys")
        app = repos.get_by_key(db, repos.ForgeKind.GITLAB, url, "platform/app")
        assert app is not None
        hook = gitlab.hooks[int(enabled["hook_id"])]
        assert hook["url"] == f"http://127.0.0.1:{port}/hooks/gitlab/{app.hook_key}"
        assert hook["token"] == repos.load_secrets(db, keys, app).webhook_secret
        assert repos.load_secrets(db, keys, app).token == GL_TOKEN
        assert (hook["merge_requests_events"], hook["note_events"]) == (True, True)
        assert len(gitlab.hooks) == 3
        assert connections.last_deliveries(db)[app.id].event == "Merge Request Hook"
        raw = db.execute("SELECT token_enc FROM git_servers WHERE url = ?", [url]).fetchone()[0]
        assert GL_TOKEN.encode() not in raw

        assert run(capsys, "repo", "disable", str(app.id), *dd)[0] == 0
        assert int(enabled["hook_id"]) not in gitlab.hooks
        assert repos.get_by_key(db, repos.ForgeKind.GITLAB, url, "platform/app") is None
        db.conn.close()
    finally:
        gitlab.stop()
    seen = events(d)
    assert ("secret.created", "success") in seen
    assert seen.count(("forge.hook.created", "success")) == 3
    assert seen.count(("forge.hook.tested", "success")) == 3
    assert ("forge.hook.removed", "success") in seen


def test_gitea_enable_verifies_the_signed_test_delivery(
    data: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    d, port = data
    gitea = FakeGiteaAdmin(token=GT_TOKEN)
    url = gitea.start()
    try:
        gitea.add_repo("org/app")
        gitea.add_repo("org/theirs", admin=False)
        dd = ("--data-dir", str(d))
        assert run(capsys, "server", "connect", url, "--kind", "gitea",
                   "--token-file", str(d.parent / "gt-token"), *dd)[0] == 0  # fmt: skip
        with serve(config.load(d), port=port):
            code, _out, err = run(capsys, "repo", "enable", "--server", url, "org/app",
                                 "org/theirs", "--json", *dd)  # fmt: skip
        assert code != 0  # no admin rights on org/theirs: refused, and said so
        assert "403" in err
        db = open_database(d / "revisor.db")
        registered = [r.project for r in repos.list_all(db)]
        assert registered == ["org/app"]  # the refused one left nothing behind
        (hook,) = gitea.hooks.values()
        assert hook["events"] == ["pull_request", "issue_comment"]
        assert gitea.deliveries
        assert 200 <= gitea.deliveries[0][1] < 300
        db.conn.close()
    finally:
        gitea.stop()


def test_gitlab_group_hook_serves_every_project_and_is_removed_with_them(
    data: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    d, port = data
    gitlab = FakeGitLabAdmin(token=GL_TOKEN)
    url = gitlab.start()
    try:
        for project in ("platform/app", "platform/lib"):
            gitlab.add_project(project)
            gitlab.add_merge_request(project, 1, files=[FakeFile("a.py", DIFF)])
        dd = ("--data-dir", str(d))
        assert run(capsys, "server", "connect", url, "--kind", "gitlab",
                   "--token-file", str(d.parent / "gl-token"), *dd)[0] == 0  # fmt: skip
        with serve(config.load(d), port=port):
            code, out, err = run(capsys, "repo", "enable", "--server", url, "--group",
                                 "platform", "--group-hook", "--json", *dd)  # fmt: skip
        assert code == 0, err
        enabled = json.loads(out)["enabled"]
        assert sorted(e["project"] for e in enabled) == ["platform/app", "platform/lib"]
        assert all(e["verified"] for e in enabled)
        (hook,) = gitlab.hooks.values()
        assert hook["group"] == "platform"
        assert hook["url"] == f"http://127.0.0.1:{port}/hooks/gitlab"  # the shared URL
        db = open_database(d / "revisor.db")
        keys = KeyRing.load(d / "keys")
        secrets = {repos.load_secrets(db, keys, r).webhook_secret for r in repos.list_all(db)}
        assert secrets == {hook["token"]}
        db.conn.close()

        code, _, err = run(capsys, "repo", "disable-group", "--server", url,
                           "--group", "platform", *dd)  # fmt: skip
        assert code == 0, err
        assert not gitlab.hooks
        db = open_database(d / "revisor.db")
        assert repos.list_all(db) == []
        db.conn.close()
    finally:
        gitlab.stop()
    seen = events(d)
    assert ("forge.hook.tested", "success") in seen
    assert ("forge.hook.removed", "success") in seen
