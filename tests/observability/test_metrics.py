"""Metrics recorded in-process: webhooks, the pipeline, forges, egress, audit, /metrics access.

prometheus-client's default registry is global, so every assertion is on the *difference* a step
makes. The multiprocess summing across real processes is in test_processes.py.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import REGISTRY

from revisor import metrics
from revisor.audit import AuditLog, Event
from revisor.egress import Egress
from revisor.errors import AuditWriteError, EgressDenied, ForgeError, ForgeUnavailable
from revisor.forges.gitea.api import GiteaForge
from revisor.forges.gitlab.api import GitLabForge
from revisor.store import jobs
from revisor.store.db import PerThread
from revisor.web.app import create_app
from revisor.web.auth import sessions
from revisor.web.intake import Answer
from revisor.web.metrics_route import is_loopback, webhook_outcome
from tests import webhook_payloads as wp
from tests.conftest import GITLAB_SECRET, DataDir
from tests.forges.conftest import fake_gitea, fake_gitlab, gitea_forge, gitlab_forge  # noqa: F401
from tests.worker.conftest import Appliance, appliance  # noqa: F401  (fixture)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Value of a sample now minus its value when the Delta was made."""

    def __init__(self, name: str, **labels: str) -> None:
        self.name, self.labels = name, labels
        self.start = sample(name, **labels)

    @property
    def value(self) -> float:
        return sample(self.name, **self.labels) - self.start


@pytest.fixture
def client(data_dir: DataDir) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(data_dir.settings)) as c:
        yield c


# --- webhooks --------------------------------------------------------------------------------


def test_webhook_outcomes_are_counted_and_timed(client: TestClient, data_dir: DataDir) -> None:  # type: ignore[type-arg]
    accepted = Delta("revisor_webhook_deliveries_total", forge="gitlab", outcome="accepted")
    dup = Delta("revisor_webhook_deliveries_total", forge="gitlab", outcome="duplicate")
    unauth = Delta("revisor_webhook_deliveries_total", forge="gitlab", outcome="unauthorized")
    timed = Delta("revisor_webhook_intake_seconds_count", forge="gitlab")

    headers = wp.gitlab_headers(GITLAB_SECRET)
    body = wp.body_of(wp.gitlab_mr())
    assert client.post("/hooks/gitlab", content=body, headers=headers).status_code == 202
    assert client.post("/hooks/gitlab", content=body, headers=headers).status_code == 200
    for _ in range(3):
        bad = wp.gitlab_headers("wrong-secret-value")
        assert client.post("/hooks/gitlab", content=body, headers=bad).status_code == 401

    assert (accepted.value, dup.value, unauth.value, timed.value) == (1, 1, 3, 5)


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (Answer(202, {"job_id": 1}), "accepted"),
        (Answer(200, {"duplicate": True, "job_id": 1}), "duplicate"),
        (Answer(200, {"ignored": "label change"}), "ignored"),
        (Answer(401), "unauthorized"),
        (Answer(404), "unknown_repo"),
        (Answer(400), "bad_request"),
        (Answer(500), "error"),
        (Answer(503), "error"),
    ],
)
def test_webhook_outcome_labels(answer: Answer, outcome: str) -> None:
    assert webhook_outcome(answer) == outcome


def test_webhook_that_crashes_is_counted_as_error(
    client: TestClient,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*_a: object, **_k: object) -> Answer:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(client.app.state.resources.intake, "check", boom)
    errors = Delta("revisor_webhook_deliveries_total", forge="gitea", outcome="error")
    r = client.post("/hooks/gitea", content=b"{}", headers={"X-Gitea-Event": "pull_request"})
    assert r.status_code == 500
    assert errors.value == 1


# --- /metrics access -------------------------------------------------------------------------


def _session(settings_db: Path, settings: object, role: str) -> str:
    dbs = PerThread(settings_db)
    try:
        sid, _ = sessions.create(
            dbs.get(),
            username=f"ldap:{role}-user",
            display_name=role,
            roles=frozenset({role}),
            source="127.0.0.1",
            t=time.time(),
        )
    finally:
        dbs.close()
    return sid


def test_metrics_needs_loopback_or_admin(client: TestClient, data_dir: DataDir) -> None:  # type: ignore[type-arg]
    """The TestClient's address is not loopback: anonymous is 401, a viewer 403, an admin 200."""
    assert client.get("/metrics").status_code == 401
    client.cookies.set(sessions.COOKIE, "not-a-session", domain="testserver.local")
    assert client.get("/metrics").status_code == 401
    viewer = _session(data_dir.settings.db_path, data_dir.settings, "viewer")
    client.cookies.set(sessions.COOKIE, viewer, domain="testserver.local")
    assert client.get("/metrics").status_code == 403
    admin = _session(data_dir.settings.db_path, data_dir.settings, "admin")
    client.cookies.set(sessions.COOKIE, admin, domain="testserver.local")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_metrics_public_setting_opens_it(data_dir: DataDir) -> None:
    settings = dataclasses.replace(
        data_dir.settings,
        server=dataclasses.replace(data_dir.settings.server, metrics_public=True),
    )
    with TestClient(app=create_app(settings)) as c:
        r = c.get("/metrics")
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert "revisor_webhook_deliveries" in families
    jobs_family = families["revisor_jobs"]
    assert {s.labels["state"] for s in jobs_family.samples} == set(jobs.STATES)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.9", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("testclient", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --- database gauges ---------------------------------------------------------------------------


def test_snapshot_counts_states_and_oldest_due_job(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    ids = [
        jobs.create(db, repo_id=data_dir.gitlab.id, mr_number=n, head_sha="a" * 40, trigger="open")
        for n in (1, 2, 3)
    ]
    old = time.time() - 120
    db.execute("UPDATE jobs SET created_at = ? WHERE id = ?", [old, ids[0]])
    # a job waiting for its backoff is not "due": it must not count as stuck
    db.execute(
        "UPDATE jobs SET created_at = ?, not_before = ? WHERE id = ?",
        [old - 500, time.time() + 60, ids[1]],
    )
    db.execute("UPDATE jobs SET state = 'failed' WHERE id = ?", [ids[2]])
    db.conn.commit()
    snap = metrics.read_snapshot(db, lambda: 4)
    assert snap.jobs_by_state["queued"] == 2
    assert snap.jobs_by_state["failed"] == 1
    assert snap.queue_depth == 4
    assert 119 <= snap.oldest_due_seconds < 200

    def broken() -> int:
        raise OSError("queue.db unreadable")

    snap = metrics.read_snapshot(db, broken)
    assert snap.queue_depth is None  # the gauge goes missing, the scrape still works
    families = {f.name: f for f in metrics.StateCollector(lambda: snap).collect()}
    assert metrics.QUEUE_DEPTH not in families
    assert metrics.JOBS in families


# --- the worker side ---------------------------------------------------------------------------


def test_review_records_model_forge_and_posting_metrics(appliance: Appliance) -> None:  # noqa: F811
    posted = Delta("revisor_comments_posted_total", forge="gitlab")
    rejected = Delta("revisor_positions_rejected_total", forge="gitlab")
    prompt = Delta("revisor_model_tokens_total", model="m1", kind="prompt")
    completion = Delta("revisor_model_tokens_total", model="m1", kind="completion")
    model_calls = Delta("revisor_model_request_duration_seconds_count", model="m1", outcome="ok")
    forge_ok = Delta("revisor_forge_requests_total", forge="gitlab", status="200")
    reviews = Delta("revisor_review_duration_seconds_count", outcome="done")

    job_id = appliance.new_job()
    runner = appliance.runner()
    runner.pipeline = metrics.timed_pipeline(runner.pipeline)
    runner(job_id)

    assert appliance.job(job_id).state == "done"
    assert posted.value == 1
    assert rejected.value == 0
    assert prompt.value > 0
    assert completion.value > 0
    assert model_calls.value >= 1
    assert forge_ok.value >= 3  # MR, versions, changes, notes, ... all answered 200
    assert reviews.value == 1


def test_forge_errors_are_counted_by_status(appliance: Appliance) -> None:  # noqa: F811
    appliance.gitlab.revoke_token()
    unauthorized = Delta("revisor_forge_errors_total", forge="gitlab", status="401")
    failed = Delta("revisor_review_duration_seconds_count", outcome="failed")
    job_id = appliance.new_job()
    runner = appliance.runner()
    runner.pipeline = metrics.timed_pipeline(runner.pipeline)
    runner(job_id)
    assert appliance.job(job_id).state == "failed"
    assert unauthorized.value >= 1
    assert failed.value == 1


def test_gitea_answers_are_counted(gitea_forge: GiteaForge) -> None:  # noqa: F811
    ok = Delta("revisor_forge_requests_total", forge="gitea", status="200")
    missing = Delta("revisor_forge_errors_total", forge="gitea", status="404")
    gitea_forge._request("GET", "/user", what="read the bot user")
    with pytest.raises(ForgeError):
        gitea_forge.fetch_merge_request(404404)
    assert ok.value == 1
    assert missing.value >= 1


def test_gitlab_hook_is_on_the_session(gitlab_forge: GitLabForge) -> None:  # noqa: F811
    ok = Delta("revisor_forge_requests_total", forge="gitlab", status="200")
    gitlab_forge._request("get", "/user", what="read the bot user")
    assert ok.value == 1


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (ForgeUnavailable("down"), "retry"),
        (ForgeError("bad config"), "failed"),
        (RuntimeError("bug"), "error"),
    ],
)
def test_timed_pipeline_labels_what_the_attempt_raised(exc: Exception, outcome: str) -> None:
    d = Delta("revisor_review_duration_seconds_count", outcome=outcome)

    def pipeline(_ctx: object) -> object:
        raise exc

    with pytest.raises(type(exc)):
        metrics.timed_pipeline(pipeline)(None)
    assert d.value == 1


def test_egress_refusal_is_counted() -> None:
    d = Delta("revisor_egress_refusals_total", purpose="model health")
    with pytest.raises(EgressDenied):
        Egress.from_urls(["https://gitlab.internal"]).check("https://evil.example", "model health")
    assert d.value == 1


def test_audit_write_failure_is_counted(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.db")
    audit.db.conn.execute("DROP TABLE audit")
    d = Delta("revisor_audit_write_failures_total", event=Event.JOB_FAILED.value)
    with pytest.raises(AuditWriteError):
        audit.record(Event.JOB_FAILED, actor="system:test", target="job:1")
    audit.close()
    assert d.value == 1


# --- multiprocess housekeeping -----------------------------------------------------------------


def test_clean_keeps_files_of_live_processes(tmp_path: Path) -> None:
    live = tmp_path / f"counter_{os.getpid()}.db"
    dead = tmp_path / "counter_999999999.db"
    for f in (live, dead):
        f.write_bytes(b"x")
    assert metrics.clean(tmp_path, keep_live=True) == [dead]
    assert live.exists()
    assert metrics.clean(tmp_path, keep_live=False) == [live]
    assert metrics.clean(tmp_path / "missing") == []


def test_live_pids_skips_stale_pid_files(tmp_path: Path) -> None:
    run = metrics.run_dir(tmp_path)
    run.mkdir()
    (run / f"worker.{os.getpid()}.pid").write_text("x")
    (run / "worker.999999999.pid").write_text("x")
    (run / f"web.{os.getpid()}.pid").write_text("x")
    assert metrics.live_pids(tmp_path, "worker") == [os.getpid()]
