"""Fail closed: an admin action whose audit record cannot be written does not happen.

The fault is real SQLite: a trigger in `audit.db` aborts every insert (what a full or failing
audit volume looks like to the appliance; it works as root, where file modes do not).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.web.webapp import client_as, make_app, settings_for

from revisor import config
from revisor.cli import main
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import endpoints, jobs, repos, servers
from revisor.store.db import open_database


def break_audit(audit_db: Path) -> None:
    conn = sqlite3.connect(audit_db)
    conn.execute(
        "CREATE TRIGGER injected_fault BEFORE INSERT ON audit"
        " BEGIN SELECT RAISE(ABORT, 'injected: audit volume full'); END"
    )
    conn.commit()
    conn.close()


def mend_audit(audit_db: Path) -> None:
    conn = sqlite3.connect(audit_db)
    conn.execute("DROP TRIGGER injected_fault")
    conn.commit()
    conn.close()


def audit_events(audit_db: Path) -> list[str]:
    conn = sqlite3.connect(audit_db)
    rows = [r[0] for r in conn.execute("SELECT event FROM audit ORDER BY seq")]
    conn.close()
    return rows


@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    d = tmp_path / "data"
    assert main(["init", "--data-dir", str(d)]) == 0
    assert main(["server", "add", "https://gl.internal", "--data-dir", str(d)]) == 0
    (tmp_path / "token").write_text("glpat-fail-closed-token-1234\n")
    capsys.readouterr()
    return d


def repo_add(d: Path) -> int:
    token = d.parent / "token"
    return main(
        [
            "repo",
            "add",
            "gitlab",
            "--server",
            "https://gl.internal",
            "--project",
            "g/p",
            "--token-file",
            str(token),
            "--data-dir",
            str(d),
        ]
    )


def test_cli_repo_add_and_remove_refused_without_audit(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit_db = data_dir / "audit.db"
    break_audit(audit_db)
    assert repo_add(data_dir) != 0
    assert "could not be written" in capsys.readouterr().err
    rt = Context(config.load(data_dir, environ={}))
    assert repos.list_all(rt.db) == []  # not registered
    rt.close()

    mend_audit(audit_db)
    assert repo_add(data_dir) == 0
    assert audit_events(audit_db)[-3:] == ["repo.added", "secret.created", "secret.created"]

    break_audit(audit_db)
    assert main(["repo", "remove", "1", "--data-dir", str(data_dir)]) != 0
    rt = Context(config.load(data_dir, environ={}))
    assert [r.id for r in repos.list_all(rt.db)] == [1]  # still there
    rt.close()


def test_cli_job_retry_and_cancel_refused_without_audit(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert repo_add(data_dir) == 0
    rt = Context(config.load(data_dir, environ={}))
    queued = jobs.create(rt.db, repo_id=1, mr_number=3, head_sha="a" * 40, trigger="open")
    failed = jobs.create(rt.db, repo_id=1, mr_number=4, head_sha="b" * 40, trigger="open")
    jobs.lease(rt.db, failed, "w", 60)
    jobs.finish(rt.db, failed, "w", "failed", error="boom")
    break_audit(data_dir / "audit.db")
    capsys.readouterr()
    assert main(["jobs", "retry", str(failed), "--data-dir", str(data_dir)]) != 0
    assert main(["jobs", "cancel", str(queued), "--data-dir", str(data_dir)]) != 0
    assert "could not be written" in capsys.readouterr().err
    assert jobs.get(rt.db, failed).state == "failed"  # type: ignore[union-attr]
    assert jobs.get(rt.db, queued).state == "queued"  # type: ignore[union-attr]
    rt.close()


def test_cli_model_add_refused_without_audit(data_dir: Path) -> None:
    break_audit(data_dir / "audit.db")
    code = main(
        [
            "model",
            "add",
            "gpu1",
            "--url",
            "https://gpu1.internal:8000/v1",
            "--data-dir",
            str(data_dir),
        ]
    )
    assert code != 0
    rt = Context(config.load(data_dir, environ={}))
    assert endpoints.list_endpoints(rt.db) == []
    rt.close()


def test_web_actions_refused_with_503_without_audit(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    db = open_database(settings.db_path)
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="group/app",
        token="tok",
        webhook_secret="old-secret-0123456789",
    )
    failed = jobs.create(db, repo_id=repo.id, mr_number=1, head_sha="c" * 40, trigger="open")
    jobs.lease(db, failed, "w", 60)
    jobs.finish(db, failed, "w", "failed", error="boom")
    servers.allow(db, "https://gl2.test", added_by="test")  # repos.new must reach the audit
    app = make_app(settings)
    client, csrf = client_as(app, settings, "admin")
    break_audit(settings.audit_path)
    with client:
        r = client.post(f"/api/jobs/{failed}/retry", headers={"x-csrf-token": csrf})
        assert r.status_code == 503
        assert "audit log cannot be written" in r.json()["error"]
        r = client.post(f"/jobs/{failed}/retry", headers={"x-csrf-token": csrf})
        assert r.status_code == 503
        r = client.post(
            "/repos/new",
            data={"forge": "gitlab", "server": "https://gl2.test", "project": "x/y", "token": "t"},
            headers={"x-csrf-token": csrf, "accept": "text/html"},
        )
        assert r.status_code == 503
        assert "nothing was changed" in r.text
        r = client.post(
            f"/repos/{repo.id}/policy",
            data={"max_comments": "3"},
            headers={"x-csrf-token": csrf},
        )
        assert r.status_code == 503
    assert jobs.get(db, failed).state == "failed"  # type: ignore[union-attr]
    assert [r.project for r in repos.list_all(db)] == ["group/app"]
    assert repos.get(db, repo.id).policy == {}
    db.conn.close()
