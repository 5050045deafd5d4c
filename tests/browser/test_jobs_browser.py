"""Jobs, the overview and the models page in chromium while work happens: states refresh on
their own, a retry shows a clean slate and the history, trouble in progress is on the
overview, model health is per endpoint and honest, and everything links to the Git server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from revisor import config
from revisor.domain import ForgeKind, UsageRecord
from revisor.secrets import KeyRing
from revisor.store import attempts, jobs, repos, usage
from revisor.store.db import open_database
from tests.browser.live import chromium, open_page, serve, sign_in_as, text
from tests.web.webapp import init_settings

pytestmark = pytest.mark.browser

SHA = "d" * 40


@dataclass
class World:
    settings: config.Settings
    repo: repos.Repo

    def db(self):  # type: ignore[no-untyped-def]
        return open_database(self.settings.db_path)

    def job(self, mr: int = 42, state: str = "queued") -> int:
        db = self.db()
        job_id = jobs.create(db, repo_id=self.repo.id, mr_number=mr, head_sha=SHA, trigger="open")
        if state != "queued":
            assert jobs.lease(db, job_id, "w", 600)
            attempts.start(db, job_id, 1)
        db.conn.close()
        return job_id


@pytest.fixture
def world(tmp_path: Path) -> World:
    settings, _ = init_settings(tmp_path)
    db = open_database(settings.db_path)
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="platform/payments",
        token="tok",
        webhook_secret="whsec-0123456789",
    )
    db.conn.close()
    return World(settings, repo)


def test_job_page_follows_retry_and_the_worker_without_a_reload(
    world: World, tmp_path: Path
) -> None:
    job_id = world.job(state="running")
    db = world.db()
    attempts.end(db, job_id, 1, "failed", error="GitLab refused the token (401)")
    assert jobs.finish(db, job_id, "w", "failed", error="GitLab refused the token (401)")
    with serve(world.settings) as live, chromium(tmp_path) as b:
        sign_in_as(b, live, "maintainer")
        open_page(b, f"{live.base}/jobs/{job_id}")
        assert b.evaluate("document.querySelector('#job-state').innerText") == "failed"
        b.evaluate("document.querySelector('#job-live form[action$=retry] button').click(); true")
        b.wait_for("document.querySelector('#job-state').innerText === 'queued'")
        assert "refused the token" not in b.evaluate(
            "document.querySelector('#job-live .card').innerText"
        )  # the old error is history now, not the job's error
        assert "refused the token" in b.evaluate(
            "document.querySelector('#job-attempts').innerText"
        )
        b.evaluate("window.__same_page = true")  # a reload would lose this

        assert jobs.lease(db, job_id, "w2", 600)  # a worker takes it
        attempts.start(db, job_id, 1)
        jobs.heartbeat(db, job_id, "w2", 600, "review 1/3")
        b.wait_for("document.querySelector('#job-state').innerText === 'running'", timeout=10)
        assert "review 1/3" in text(b)
        assert "Running for" in text(b)
        assert b.evaluate("document.querySelector('#job-live form[action$=cancel]') !== null")

        assert b.evaluate("window.__same_page === true")  # all of that without a reload
        finding = {"severity": "major", "path": "a.py", "line": 3, "title": "Off by one"}
        assert jobs.finish(db, job_id, "w2", "done", result={"findings": [finding]})
        b.wait_for("document.querySelector('#job-state').innerText === 'done'", timeout=10)
        b.wait_for("document.body.innerText.includes('Off by one')")  # its results appear
    db.conn.close()


def test_jobs_list_refreshes_and_shows_a_retrying_job_as_retrying(
    world: World, tmp_path: Path
) -> None:
    running = world.job(mr=1, state="running")
    flaky = world.job(mr=2, state="running")
    db = world.db()
    assert jobs.retry_later(db, flaky, "w", error="model endpoint timed out", delay_seconds=600)
    with serve(world.settings) as live, chromium(tmp_path) as b:
        sign_in_as(b, live, "viewer")
        open_page(b, f"{live.base}/jobs")
        row = "document.querySelector('tr[data-job=\"{}\"]').innerText"
        assert "running" in b.evaluate(row.format(running))
        assert "retrying" in b.evaluate(row.format(flaky))
        assert "next" in b.evaluate(row.format(flaky))
        b.evaluate("window.__same_page = true")
        assert jobs.finish(db, running, "w", "done", result={})
        b.wait_for(f"{row.format(running)}.includes('done')", timeout=10)
        assert b.evaluate("window.__same_page === true")

        open_page(b, f"{live.base}/")
        assert b.evaluate("document.querySelector('#tile-retrying .num').innerText") == "1"
        assert "model endpoint timed out" in b.evaluate(
            "document.querySelector('#retrying').innerText"
        )
        assert b.evaluate("[...document.querySelectorAll('#retrying a')].map(a => a.href)") == [
            f"{live.base}/jobs/{flaky}",
            "https://gitlab.test/platform/payments/-/merge_requests/2",
        ]
    db.conn.close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 (loopback)
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_overview_shows_a_webhook_with_a_wrong_secret_and_its_project(
    world: World, tmp_path: Path
) -> None:
    with serve(world.settings) as live, chromium(tmp_path) as b:
        sign_in_as(b, live, "viewer")
        open_page(b, f"{live.base}/")
        assert b.evaluate("document.querySelector('#tile-rejected .num').innerText") == "0"
        b.evaluate("window.__same_page = true")
        status = _post(
            f"{live.base}/hooks/gitlab/{world.repo.hook_key}",
            json.dumps({"object_kind": "merge_request"}).encode(),
            {
                "content-type": "application/json",
                "x-gitlab-token": "not-the-secret",
                "x-gitlab-event": "Merge Request Hook",
            },
        )
        assert status == 401
        tile = "document.querySelector('#tile-rejected .num').innerText"
        b.wait_for(f"{tile} === '1'", timeout=15)  # the overview refreshes itself
        assert b.evaluate("window.__same_page === true")
        refused = b.evaluate("document.querySelector('#rejected').innerText")
        assert "platform/payments" in refused


def test_model_health_is_per_endpoint_and_counts_failed_calls(world: World, tmp_path: Path) -> None:
    db = world.db()
    for i in range(18):
        usage.record(db, None, world.repo.id, UsageRecord("m1", "gpu-box", 10, 5, 100, ok=i < 2))
    db.conn.close()

    def probe() -> dict[str, object]:  # the default endpoint answers its probe
        return {"ok": True, "endpoint": "gpu-box", "detail": "HTTP 200"}

    with serve(world.settings, model_health=probe) as live, chromium(tmp_path) as b:
        sign_in_as(b, live, "viewer")
        open_page(b, f"{live.base}/")
        tile = b.evaluate("document.querySelector('#tile-model').innerText")
        assert "failing" in tile
        assert "16 of 18" in tile
        assert b.evaluate("document.querySelectorAll('main pre').length") == 0  # no raw JSON
        open_page(b, f"{live.base}/models")
        sidecar = b.evaluate("document.querySelector('#sidecar-health').innerText")
        assert "gpu-box" not in sidecar
        assert "up" not in sidecar.split()  # another endpoint's probe is not the sidecar's
        assert b.evaluate("document.querySelectorAll('main pre').length") == 0


def test_job_links_back_to_the_git_server(world: World, tmp_path: Path) -> None:
    job_id = world.job(state="running")
    db = world.db()
    attempts.set_mr(
        db,
        job_id,
        {
            "title": "Charge in the right currency https://evil.example/x",
            "author": "alice",
            "source_branch": "fix/currency",
            "target_branch": "main",
        },
    )
    finding = {"severity": "major", "path": "billing/charge.py", "line": 88, "title": "Round"}
    assert jobs.finish(db, job_id, "w", "done", result={"findings": [finding]})
    db.conn.close()
    base = "https://gitlab.test/platform/payments"
    with serve(world.settings) as live, chromium(tmp_path) as b:
        sign_in_as(b, live, "viewer")
        open_page(b, f"{live.base}/jobs/{job_id}")
        hrefs = b.evaluate("[...document.querySelectorAll('main a')].map(a => a.href)")
        assert f"{base}/-/merge_requests/42" in hrefs
        assert f"{base}/-/commit/{SHA}" in hrefs
        assert f"{base}/-/blob/{SHA}/billing/charge.py#L88" in hrefs
        assert f"{base}/-/tree/fix/currency" in hrefs
        assert not [h for h in hrefs if "evil.example" in h]  # MR text is never a link
        page_text = text(b)
        assert "Charge in the right currency" in page_text
        assert "alice" in page_text
        assert "billing/charge.py:88" in page_text
        open_page(b, f"{live.base}/jobs")
        hrefs = b.evaluate("[...document.querySelectorAll('main a')].map(a => a.href)")
        assert f"{base}/-/merge_requests/42" in hrefs
