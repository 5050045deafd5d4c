"""Dashboard pages and actions: what they show, that changes are audited, the audit export."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar

from revisor.audit import AuditLog, Event
from revisor.config import Settings
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import jobs, repos, servers
from revisor.store.db import now, open_database
from tests.ops.conftest import TOKEN, FakeForgeApi
from tests.web.webapp import client_as, make_app, settings_for

RESULT = {
    "findings": [
        {
            "severity": "major",
            "path": "src/app.py",
            "line": 12,
            "title": "SQL built from input",
            "body": "Use a bound parameter.",
        },
    ],
    "skipped": [{"path": "package-lock.json", "reason": "generated"}],
    "model": "smollm2-135m",
    "prompt_version": "review-v3",
}


@dataclass
class World:
    settings: Settings
    app: Litestar
    repo_id: int
    done_job: int
    failed_job: int


@pytest.fixture
def world(tmp_path: Path) -> World:
    settings = settings_for(tmp_path)
    db = open_database(settings.db_path)
    keys = KeyRing.load(settings.keys_dir)
    for server in ("https://gitlab.test", "https://gitea.test"):
        servers.allow(db, server, added_by="test")
    repo = repos.add(
        db,
        keys,
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="group/app",
        token="tok",
        webhook_secret="old-secret-0123456789",
    )
    done = jobs.create(db, repo_id=repo.id, mr_number=7, head_sha="b" * 40, trigger="open")
    assert jobs.lease(db, done, "w1", 60)
    assert jobs.finish(db, done, "w1", "done", result=RESULT)
    db.execute(
        "INSERT INTO usage (job_id, repo_id, model, endpoint, prompt_tokens, completion_tokens,"
        " latency_ms, ok, created_at)"
        " VALUES (?, ?, 'smollm2-135m', 'local', 1200, 300, 4200, 1, ?)",
        [done, repo.id, now()],
    )
    db.conn.commit()
    failed = jobs.create(db, repo_id=repo.id, mr_number=8, head_sha="c" * 40, trigger="open")
    assert jobs.lease(db, failed, "w1", 60)
    assert jobs.finish(db, failed, "w1", "failed", error="model endpoint timed out")
    db.conn.close()
    return World(settings, make_app(settings), repo.id, done, failed)


def audit_rows(settings: Settings) -> list[dict]:  # type: ignore[type-arg]
    log = AuditLog(settings.audit_path)
    try:
        return list(log.records())
    finally:
        log.close()


def test_overview_shows_counts_and_svg_charts(world: World) -> None:
    client, _ = client_as(world.app, world.settings, "viewer")
    with client:
        html = client.get("/").text
    assert html.count("<svg") == 3
    assert "Reviews per day" in html
    assert "group/app" in html  # tokens per repository
    assert "https://gitlab.test" in html  # Git server traffic


def test_job_detail_shows_result_usage_and_error(world: World) -> None:
    client, _ = client_as(world.app, world.settings, "viewer")
    with client:
        done = client.get(f"/jobs/{world.done_job}").text
        failed = client.get(f"/jobs/{world.failed_job}").text
    for text in (
        "SQL built from input",
        "src/app.py",
        "package-lock.json",
        "generated",
        "smollm2-135m",
        "review-v3",
        "1200 prompt + 300 completion",
        "4200 ms",
    ):
        assert text in done
    assert "model endpoint timed out" in failed
    assert "Retry" not in failed  # a viewer sees no buttons


def test_jobs_filter_by_state_and_repo(world: World) -> None:
    client, _ = client_as(world.app, world.settings, "viewer")
    with client:
        failed = client.get("/jobs?state=failed", headers={"hx-request": "true"}).text
        other_repo = client.get("/jobs?repo=999", headers={"hx-request": "true"}).text
    assert f'/jobs/{world.failed_job}"' in failed
    assert f'/jobs/{world.done_job}"' not in failed
    assert "<html" not in failed  # htmx gets the table only
    assert "No jobs match" in other_repo


def test_maintainer_retries_a_failed_job_and_it_is_audited(world: World) -> None:
    client, csrf = client_as(world.app, world.settings, "maintainer")
    with client:
        assert "Retry" in client.get(f"/jobs/{world.failed_job}").text
        r = client.post(
            f"/jobs/{world.failed_job}/retry", headers={"x-csrf-token": csrf, "hx-request": "true"}
        )
        assert r.status_code == 200
        again = client.post(f"/jobs/{world.done_job}/cancel", headers={"x-csrf-token": csrf})
        assert again.status_code == 409
    db = open_database(world.settings.db_path)
    assert jobs.get(db, world.failed_job).state == "queued"  # type: ignore[union-attr]
    db.conn.close()
    rec = next(r for r in audit_rows(world.settings) if r["event"] == "job.retried")
    assert rec["actor"] == "user:ldap:maintainer-user"
    assert rec["target"] == f"job:{world.failed_job}"


def test_rotating_the_webhook_secret_changes_it_shows_it_once_and_audits(world: World) -> None:
    client, csrf = client_as(world.app, world.settings, "maintainer")
    with client:
        page = client.get(f"/repos/{world.repo_id}").text
        db = open_database(world.settings.db_path)
        hook_key = repos.get(db, world.repo_id).hook_key
        db.conn.close()
        assert f"http://127.0.0.1:8080/hooks/gitlab/{hook_key}</code>" in page
        r = client.post(f"/repos/{world.repo_id}/rotate-secret", data={"_csrf": csrf})
        assert r.status_code == 200
        later = client.get(f"/repos/{world.repo_id}").text
    db = open_database(world.settings.db_path)
    secret = repos.load_secrets(
        db, KeyRing.load(world.settings.keys_dir), repos.get(db, world.repo_id)
    ).webhook_secret
    db.conn.close()
    assert secret != "old-secret-0123456789"
    assert secret in r.text
    assert secret not in later
    rec = next(r for r in audit_rows(world.settings) if r["event"] == "secret.rotated")
    assert rec["target"] == f"repo:{world.repo_id}"
    assert secret not in json.dumps(rec)


def test_adding_a_repository_and_editing_its_policy(world: World) -> None:
    api = FakeForgeApi()  # the repository is checked with its Git server before it is added
    api.start()
    db = open_database(world.settings.db_path)
    servers.allow(db, api.url, added_by="test")
    db.conn.close()
    client, csrf = client_as(world.app, world.settings, "admin")
    with client:
        r = client.post(
            "/repos/new",
            data={
                "_csrf": csrf,
                "forge": "gitea",
                "server": api.url,
                "project": "group/app",
                "token": TOKEN,
            },
        )
        api.stop()
        assert r.status_code == 200
        db = open_database(world.settings.db_path)
        added = next(r for r in repos.list_all(db) if r.server == api.url)
        db.conn.close()
        assert f"http://127.0.0.1:8080/hooks/gitea/{added.hook_key}</code>" in r.text
        bad = client.post(
            f"/repos/{world.repo_id}/policy", data={"_csrf": csrf, "min_severity": "loud"}
        )
        assert bad.status_code == 400
        ok = client.post(
            f"/repos/{world.repo_id}/policy",
            data={
                "_csrf": csrf,
                "enabled": "on",
                "min_severity": "major",
                "ignore": "docs/**\n*.lock",
            },
        )
        assert ok.status_code == 200
    db = open_database(world.settings.db_path)
    assert repos.get(db, world.repo_id).policy == {
        "enabled": True,
        "min_severity": "major",
        "ignore": ["docs/**", "*.lock"],
    }
    db.conn.close()
    events = [r["event"] for r in audit_rows(world.settings)]
    assert "repo.added" in events
    assert "config.changed" in events


def test_audit_search_and_signed_export(world: World) -> None:
    client, csrf = client_as(world.app, world.settings, "auditor")
    with client:
        r = client.post("/audit/export", data={"_csrf": csrf})
        found = client.get("/audit?q=auditor-user", headers={"hx-request": "true"}).text
        nothing = client.get("/audit?q=nobody-did-this", headers={"hx-request": "true"}).text
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = {Path(n).name for n in tar.getnames()}
    assert {"records.jsonl", "manifest.json", "SHA256SUMS", "SHA256SUMS.sig"} <= names
    assert "audit.exported" in found
    assert "No records match" in nothing
    exported = [x for x in audit_rows(world.settings) if x["event"] == "audit.exported"]
    assert exported[-1]["actor"] == "user:ldap:auditor-user"


def test_settings_show_config_without_secrets(world: World) -> None:
    client, _ = client_as(world.app, world.settings, "admin")
    with client:
        html = client.get("/settings").text
    assert "Effective configuration" in html
    assert "old-secret-0123456789" not in html
    assert "tok" not in html.replace("tokens", "")


def test_openapi_schema_and_docs_page_are_local(world: World) -> None:
    client, _ = client_as(world.app, world.settings, "viewer")
    with client:
        schema = client.get("/api/schema/openapi.json").json()
        docs = client.get("/api/docs").text
        jobs_json = client.get("/api/jobs?state=failed").json()
    assert "/api/jobs" in schema["paths"]
    assert not any(p.startswith("/jobs") for p in schema["paths"])  # pages stay out of the API
    assert '<script src="/static/api-docs.js"' in docs
    assert [j["id"] for j in jobs_json] == [world.failed_job]


@pytest.mark.parametrize("limit", ["-1", "0", "1"])
def test_api_limit_below_one_returns_one_row(world: World, limit: str) -> None:
    """SQLite reads LIMIT -1 as "no limit": a negative or zero limit is clamped to 1."""
    log = AuditLog(world.settings.audit_path)
    for n in range(3):
        log.record(Event.REPO_ADDED, actor="cli:test", target=f"group/app{n}")
    log.close()
    client, _ = client_as(world.app, world.settings, "admin")
    with client:
        got = client.get(f"/api/jobs?limit={limit}")
        audit = client.get(f"/api/audit?limit={limit}")
    assert got.status_code == 200, got.text
    assert len(got.json()) == 1
    assert audit.status_code == 200, audit.text
    assert len(audit.json()) == 1


def test_api_huge_limit_is_clamped_not_an_overflow(world: World) -> None:
    client, _ = client_as(world.app, world.settings, "admin")
    with client:
        got = client.get(f"/api/jobs?limit={10**30}")
        audit = client.get(f"/api/audit?limit={10**30}")
    assert got.status_code == 200, got.text
    assert sorted(j["id"] for j in got.json()) == sorted([world.done_job, world.failed_job])
    assert audit.status_code == 200, audit.text
