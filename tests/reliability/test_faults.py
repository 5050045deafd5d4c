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


def retry_delay(stack: Stack, job_id: int) -> float | None:
    """While a job waits for its retry, the delay it was given (not_before - time of the retry)."""
    job = stack.job(job_id)
    if job.state != "queued" or job.attempts == 0:
        return None
    return job.not_before - job.updated_at


def test_git_server_500s_then_recovers(stack: Stack) -> None:
    # Three 500s exhaust the adapter's quick retries of one request: the job is retried later.
    stack.app.gitlab.inject(500, times=3, path_contains="/versions")
    stack.start()
    job_id = stack.hook().body["job_id"]
    wait_for("a retry that names the 500", lambda: queued_with_error(stack, job_id, "500"))
    wait_for("the job to finish", lambda: stack.job(job_id).state == "done")
    assert stack.job(job_id).attempts == 2
    assert_reviewed_once(stack, job_id)


def test_git_server_stalls_then_answers_504(stack: Stack) -> None:
    """A gateway in front of GitLab times out (each request stalls, then 504)."""
    stack.app.gitlab.inject(504, times=3, hang=1.0, path_contains="/versions")
    stack.start()
    job_id = stack.hook().body["job_id"]
    wait_for("a retry that names the 504", lambda: queued_with_error(stack, job_id, "504"))
    wait_for("the job to finish", lambda: stack.job(job_id).state == "done")
    assert_reviewed_once(stack, job_id)


def test_git_server_429_retry_after_is_honoured_and_capped(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short Retry-After is waited out in place (the job carries on); a long one sends the
    job back to the queue, and an absurd one is capped by backoff_max_seconds, not obeyed."""
    monkeypatch.setenv("REVISOR_WORKER__BACKOFF_MAX_SECONDS", "4")
    stack.add_mrs(range(8, 9))
    # On the POST itself: the review also reads the discussions (its earlier threads) first
    stack.app.gitlab.inject(
        429, times=1, retry_after=2, path_contains="/7/discussions", method="POST"
    )
    stack.app.gitlab.inject(
        429, times=1, retry_after=86400, path_contains="/8/discussions", method="POST"
    )
    stack.start()
    delays: list[float] = []
    job_ids = {iid: stack.hook(iid).body["job_id"] for iid in (7, 8)}

    def both_done() -> bool:
        if (delay := retry_delay(stack, job_ids[8])) is not None:
            delays.append(delay)
        return all(stack.job(j).state == "done" for j in job_ids.values())

    wait_for("both jobs to finish", both_done, timeout=60)
    assert stack.job(job_ids[7]).attempts == 1
    assert stack.app.gitlab.count("POST", "/7/discussions") == 2  # posted again after 2 s
    assert stack.job(job_ids[8]).attempts == 2
    assert delays
    assert delays[-1] == pytest.approx(4, abs=0.05)  # the cap, not a day
    for iid, job_id in job_ids.items():
        assert_reviewed_once(stack, job_id, iid)


def test_token_revoked_mid_review_fails_clearly_and_posts_nothing(stack: Stack) -> None:
    """The token is revoked after the fetch, while the model thinks: the job fails at once
    (retrying cannot help) with a message that names the token and does not contain it."""
    stack.app.model.delay = 2
    stack.start()
    job_id = stack.hook().body["job_id"]
    wait_for("the model call", lambda: stack.app.model.chat_count() >= 1)
    stack.app.gitlab.revoke_token()
    wait_for("the job to fail", lambda: stack.job(job_id).state == "failed")
    shown = stack.show(job_id)
    assert shown["attempts"] == 1
    assert "token" in shown["last_error"].lower()
    assert stack.app.gitlab.token is None
    assert "glpat" not in shown["last_error"]
    assert stack.app.gitlab.discussions("group/app", 7) == []
    assert summaries(stack.app, 7) == []
    assert settled(stack.app)


def test_second_review_of_the_same_head_while_one_runs_posts_nothing_twice(stack: Stack) -> None:
    """A maintainer asks again (`/revisor review`, the dashboard) while a review of the same
    head is running: two workers must not both post the same findings."""
    from revisor.worker.queue import Queue

    stack.app.model.delay = 1.5
    stack.start()
    first = stack.hook().body["job_id"]
    wait_for("the first review to reach the model", lambda: stack.app.model.chat_count() >= 1)
    second = stack.app.new_job()  # same MR, same head, like the dashboard's "review again"
    Queue(stack.app.settings).enqueue(second)
    wait_for("both jobs to finish", lambda: settled(stack.app), timeout=60)
    assert {stack.job(first).state, stack.job(second).state} == {"done"}
    assert_no_duplicate_comment(stack.app, 7)
    assert len(stack.app.gitlab.discussions("group/app", 7)) == 1
