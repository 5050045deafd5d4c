"""Jobs that keep failing end `failed` (the dead letter) with their last error, after a capped
number of attempts with growing backoff, and `revisor jobs retry ID` sends them around again."""

from __future__ import annotations

import subprocess

import pytest

from tests.reliability.conftest import Stack
from tests.reliability.harness import revisor_cmd, settled, summaries, wait_for

pytestmark = pytest.mark.slow

MAX_ATTEMPTS = 4
BASE = 0.4


def test_dead_letter_after_capped_backoff_then_cli_retry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVISOR_WORKER__MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    monkeypatch.setenv("REVISOR_WORKER__BACKOFF_BASE_SECONDS", str(BASE))
    monkeypatch.setenv("REVISOR_WORKER__BACKOFF_MAX_SECONDS", "60")
    # Every attempt's fetch fails three times in a row (the adapter's own quick retries), for
    # exactly MAX_ATTEMPTS attempts; after that GitLab is healthy again.
    stack.app.gitlab.inject(502, times=3 * MAX_ATTEMPTS, path_contains="/versions")
    stack.start()
    job_id = stack.hook().body["job_id"]
    delays: dict[int, float] = {}  # attempt -> backoff it was given

    def failed() -> bool:
        job = stack.job(job_id)
        if job.state == "queued" and job.attempts > 0:
            delays[job.attempts] = job.not_before - job.updated_at
        return job.state == "failed"

    wait_for("the dead letter", failed, timeout=90)
    shown = stack.show(job_id)
    assert shown["attempts"] == MAX_ATTEMPTS
    assert shown["last_error"].startswith(f"gave up after {MAX_ATTEMPTS} attempts")
    assert "502" in shown["last_error"]
    # Exponential backoff with jitter: attempt k waits within [b*2^(k-2), b*2^(k-1)].
    assert sorted(delays) == list(range(1, MAX_ATTEMPTS))
    for attempt, delay in delays.items():
        ceiling = BASE * 2 ** (attempt - 1)
        assert ceiling / 2 - 0.01 <= delay <= ceiling + 0.01, (attempt, delay)
    assert delays[1] <= delays[2] <= delays[3]
    assert "job.failed" in [r["event"] for r in stack.app.rt.audit.records()]
    assert stack.app.gitlab.discussions("group/app", 7) == []

    out = subprocess.run(
        revisor_cmd(stack.app.settings.data_dir, "jobs", "retry", str(job_id)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"job {job_id} queued again" in out.stdout
    wait_for("the retried job to finish", lambda: stack.job(job_id).state == "done", timeout=60)
    job = stack.job(job_id)
    assert job.attempts == 1  # a fresh count after the manual retry
    assert job.last_error is None
    assert len(stack.app.gitlab.discussions("group/app", 7)) == 1
    assert len(summaries(stack.app, 7)) == 1
    assert settled(stack.app)


def test_retrying_a_job_that_is_not_dead_is_refused(stack: Stack) -> None:
    job_id = stack.app.new_job()  # queued, no worker running
    out = subprocess.run(
        revisor_cmd(stack.app.settings.data_dir, "jobs", "retry", str(job_id)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "only failed or cancelled jobs can be retried" in out.stderr
    assert stack.job(job_id).state == "queued"
