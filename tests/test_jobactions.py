"""Retry and cancel: the CLI, the API and the dashboard call the same function, so they write
the same audit record (only who and from where differ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from revisor.audit import AuditLog
from revisor.cli import main
from revisor.config import Settings
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import jobs, repos
from revisor.store.db import open_database
from tests.web.webapp import client_as, make_app, settings_for


def make_jobs(settings: Settings) -> tuple[list[int], list[int]]:
    """Three failed jobs (to retry) and three queued ones (to cancel)."""
    db = open_database(settings.db_path)
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="group/app",
        token="tok",
        webhook_secret="secret-0123456789abc",
    )
    failed, queued = [], []
    for n in range(3):
        job = jobs.create(db, repo_id=repo.id, mr_number=n + 1, head_sha="a" * 40, trigger="open")
        assert jobs.lease(db, job, "w", 60)
        assert jobs.finish(db, job, "w", "failed", error="boom")
        failed.append(job)
        queued.append(
            jobs.create(db, repo_id=repo.id, mr_number=n + 10, head_sha="b" * 40, trigger="open")
        )
    db.conn.close()
    return failed, queued


def job_records(settings: Settings, event: str) -> list[dict]:  # type: ignore[type-arg]
    log = AuditLog(settings.audit_path)
    try:
        return [r for r in log.records() if r["event"] == event]
    finally:
        log.close()


def shape(record: dict) -> tuple:  # type: ignore[type-arg]
    """What must not depend on the entry point: the columns, the outcome, the details."""
    return (sorted(record), record["outcome"], record["details"])


@pytest.mark.parametrize(
    ("action", "event", "pick"),
    [("retry", "job.retried", 0), ("cancel", "job.cancelled", 1)],
)
def test_the_three_entry_points_write_identical_audit_fields(
    tmp_path: Path, action: str, event: str, pick: int
) -> None:
    settings = settings_for(tmp_path)
    targets = make_jobs(settings)[pick]
    cli_job, api_job, page_job = targets
    data_dir = ["--data-dir", str(settings.data_dir)]
    assert main(["jobs", action, str(cli_job), *data_dir]) == 0
    client, csrf = client_as(make_app(settings), settings, "maintainer")
    with client:
        headers = {"x-csrf-token": csrf}
        assert client.post(f"/api/jobs/{api_job}/{action}", headers=headers).status_code == 200
        assert client.post(f"/jobs/{page_job}/{action}", headers=headers).status_code == 200
        # the same action again is refused by all three, and recorded as refused
        assert main(["jobs", action, str(cli_job), *data_dir]) == 2
        assert client.post(f"/api/jobs/{api_job}/{action}", headers=headers).json() == {
            "job_id": api_job,
            "changed": False,
            "previous_state": "queued" if action == "retry" else "cancelled",
        }
        assert client.post(f"/jobs/{page_job}/{action}", headers=headers).status_code == 409

    records = job_records(settings, event)
    jobs_in_order = [f"job:{j}" for j in (cli_job, api_job, page_job)]
    assert [r["target"] for r in records] == jobs_in_order * 2
    before, after = ("failed", "queued") if action == "retry" else ("queued", "cancelled")
    columns = sorted(records[0])
    assert [shape(r) for r in records] == [
        *[(columns, "success", {"previous_state": before})] * 3,
        *[(columns, "failure", {"previous_state": after})] * 3,
    ]
    assert records[0]["actor"].startswith("cli:")
    assert {r["actor"] for r in records[1:3]} == {"user:ldap:maintainer-user"}
    assert records[0]["source"] == ""  # the CLI has no network source; the web ones do
    assert records[1]["source"] == records[2]["source"] != ""
