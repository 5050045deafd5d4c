"""The fault matrix: the real `revisor serve` and `revisor worker` against strict fakes that
misbehave. After every case: each acknowledged delivery has its job, no job is left queued or
running, no comment is posted twice, and the job says clearly what went wrong.

The worker's own unit-level behaviour (in-process runner, SIGKILL at each stage) is tested in
`tests/worker/`; these cases add the processes, the sockets and the timing in between.
"""

from __future__ import annotations

import pytest

from tests.reliability.conftest import Stack
from tests.reliability.harness import (
    Switch,
    assert_no_acknowledged_delivery_lost,
    assert_no_duplicate_comment,
    rewrite_config,
    settled,
    summaries,
    wait_for,
)

pytestmark = pytest.mark.slow


def queued_with_error(stack: Stack, job_id: int, *needles: str) -> bool:
    """The job is back in the queue (waiting for its retry) with an error that says why."""
    job = stack.job(job_id)
    error = (job.last_error or "").lower()
    return job.state == "queued" and job.attempts >= 1 and all(n in error for n in needles)


def assert_reviewed_once(stack: Stack, job_id: int, iid: int = 7) -> None:
    app = stack.app
    job = stack.job(job_id)
    assert job.state == "done", job.last_error
    assert len(app.gitlab.discussions("group/app", iid)) == 1
    assert len(summaries(app, iid)) == 1
    assert_no_duplicate_comment(app, iid)
    assert app.gitlab.commit_statuses(app.head(iid))[-1]["state"] == "success"
    assert settled(app)


def test_model_sidecar_down_then_back(stack: Stack) -> None:
    """Connection refused: the job waits with backoff (not failed) and finishes once it is back."""
    switch = Switch(int(stack.app.model.url.rsplit(":", 1)[1]))  # starts switched off
    rewrite_config(stack.app, model_url=switch.url)
    stack.start()
    delivery = stack.hook()
    assert delivery.status == 202
    job_id = delivery.body["job_id"]
    wait_for("a retry that names the model", lambda: queued_with_error(stack, job_id, "model"))
    shown = stack.show(job_id)  # still waiting (or trying again), with the reason
    assert shown["state"] in {"queued", "running"}
    assert "unavailable" in shown["last_error"]
    assert stack.app.model.chat_count() == 0
    switch.up()
    try:
        wait_for("the job to finish", lambda: stack.job(job_id).state == "done", timeout=60)
    finally:
        switch.down()
    assert stack.job(job_id).attempts >= 2
    assert_reviewed_once(stack, job_id)
    assert_no_acknowledged_delivery_lost(stack.app, [delivery])


def test_model_hanging_times_out_and_is_retried(stack: Stack) -> None:
    """Every request of the first attempt hangs past the client timeout; the next attempt works."""
    rewrite_config(stack.app, model_timeout=0.5)
    stack.app.model.inject(hang=60, times=4, path_contains="/chat/completions")
    stack.start()
    job_id = stack.hook().body["job_id"]
    wait_for("a retry after the timeouts", lambda: queued_with_error(stack, job_id, "model"))
    assert "timed out" in (stack.job(job_id).last_error or "").lower()
    wait_for("the job to finish", lambda: stack.job(job_id).state == "done", timeout=60)
    assert stack.job(job_id).attempts == 2
    assert_reviewed_once(stack, job_id)


def test_model_garbage_and_empty_answers_end_in_a_loud_partial_review(stack: Stack) -> None:
    stack.add_mrs(range(8, 9))
    stack.start()
    for iid, reply in ((7, ""), (8, "Sure! I think the code is fine :)")):
        stack.app.model.reply = reply
        job_id = stack.hook(iid).body["job_id"]
        wait_for("the job to finish", lambda j=job_id: stack.job(j).state == "done")  # type: ignore[misc]
        job = stack.job(job_id)
        assert job.result is not None
        assert job.result["partial"] is True
        (summary,) = summaries(stack.app, iid)
        assert "partial review" in summary.lower()
        assert stack.app.gitlab.discussions("group/app", iid) == []
        assert stack.app.gitlab.commit_statuses(stack.app.head(iid))[-1]["state"] == "failed"
    assert settled(stack.app)
