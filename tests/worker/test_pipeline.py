"""The worker pipeline end to end against the strict fake GitLab and a fake model endpoint.

What `review_job` decides on its own (dedup, partial reviews, superseded and skipped jobs, the
audit of model requests) is tested without HTTP in test_review_job.py; here are the behaviours
that depend on the real adapters: GitLab positions, HTTP failures, retries, a revoked token."""

from __future__ import annotations

from revisor import jobactions
from revisor.store import attempts, usage
from tests.fakes.server import Request, Response
from tests.worker.conftest import Appliance, finding


def audit_events(app: Appliance) -> list[str]:
    return [r["event"] for r in app.rt.audit.records()]


def test_review_posts_inline_comment_summary_and_status(appliance: Appliance) -> None:
    job_id = appliance.new_job()
    appliance.runner()(job_id)

    job = appliance.job(job_id)
    assert job.state == "done", job.last_error
    discussions = appliance.gitlab.discussions("group/app", 7)
    assert len(discussions) == 1
    position = discussions[0]["notes"][0]["position"]
    assert (position["new_line"], position.get("old_line")) == (3, None)
    assert "Shell injection" in discussions[0]["notes"][0]["body"]
    notes = appliance.gitlab.notes("group/app", 7)
    assert len(notes) == 1
    assert "Revisor review" in notes[0]["body"]
    states = [s["state"] for s in appliance.gitlab.commit_statuses(appliance.head())]
    assert states[0] == "running"
    assert states[-1] == "success"
    assert job.result is not None
    assert job.result["posted_count"] == 1
    totals = usage.totals_for_job(appliance.rt.db, job_id)
    assert totals.prompt_tokens == 42
    events = audit_events(appliance)
    assert {"model.request", "forge.comment.posted", "forge.status.set"} <= set(events)


def test_position_outside_diff_goes_to_summary(appliance: Appliance) -> None:
    """A finding the anchor moves onto the diff is posted; GitLab refusals end in the summary."""
    appliance.reply(finding(3), finding(4, title="Returns the command", severity="major"))
    appliance.runner()(job_id := appliance.new_job())
    assert appliance.job(job_id).state == "done"
    for d in appliance.gitlab.discussions("group/app", 7):
        pos = d["notes"][0]["position"]
        assert pos["new_line"] in {2, 3, 4}
    assert appliance.gitlab.rejected_positions == []


def test_model_down_retries_with_backoff_then_dead_letter(appliance: Appliance) -> None:
    appliance.model.stop()
    runner = appliance.runner()
    job_id = appliance.new_job()
    runner(job_id)
    job = appliance.job(job_id)
    assert job.state == "queued"
    assert job.last_error
    assert "model" in job.last_error.lower()
    assert job.not_before > job.updated_at - 1
    # GitLab refuses running -> pending, so the status stays "running" (never a false verdict)
    assert appliance.gitlab.commit_statuses(appliance.head())[-1]["state"] == "running"
    for _ in range(2):
        appliance.rt.db.execute("UPDATE jobs SET not_before = 0 WHERE id = ?", [job_id])
        runner(job_id)
    job = appliance.job(job_id)
    assert (job.state, job.attempts) == ("failed", 3)
    assert "gave up after 3 attempts" in (job.last_error or "")
    assert "job.failed" in audit_events(appliance)
    # the commit status does not stay "running" after the give-up: it ends as the job did
    assert appliance.gitlab.commit_statuses(appliance.head())[-1]["state"] == "failed"
    history = attempts.for_job(appliance.rt.db, job_id)
    assert [a.outcome for a in history] == ["retry", "retry", "failed"]
    assert history[0].next_retry_at is not None
    assert history[0].error
    assert "model" in history[0].error.lower()


def test_a_job_cancelled_while_it_runs_ends_its_commit_status(appliance: Appliance) -> None:
    """Cancelled mid-review (while the model answers): nothing is posted and the status that
    said "running" says "canceled"."""
    job_id = appliance.new_job()
    original = appliance.model._chat

    def chat_then_cancel(request: Request) -> Response:
        jobactions.cancel(appliance.rt.db, appliance.rt.audit, job_id, actor="user:ldap:m")
        return original(request)

    appliance.model._routes = [
        (m, p, chat_then_cancel if h == original else h) for m, p, h in appliance.model._routes
    ]
    appliance.runner()(job_id)
    assert appliance.job(job_id).state == "cancelled"
    assert appliance.gitlab.discussions("group/app", 7) == []
    states = [s["state"] for s in appliance.gitlab.commit_statuses(appliance.head())]
    assert states == ["running", "canceled"]


def test_a_job_cancelled_between_attempts_ends_its_commit_status(appliance: Appliance) -> None:
    appliance.model.stop()
    runner = appliance.runner()
    runner(job_id := appliance.new_job())
    assert appliance.job(job_id).state == "queued"  # waiting for its next attempt
    done = jobactions.cancel(
        appliance.rt.db, appliance.rt.audit, job_id, actor="user:ldap:m", enqueue=runner
    )
    assert done.changed
    assert appliance.gitlab.commit_statuses(appliance.head())[-1]["state"] == "canceled"


def test_a_retried_job_does_not_show_the_old_error(appliance: Appliance) -> None:
    appliance.gitlab.revoke_token()
    appliance.runner()(job_id := appliance.new_job())
    assert appliance.job(job_id).last_error
    jobactions.retry(appliance.rt.db, appliance.rt.audit, job_id, actor="user:ldap:m")
    job = appliance.job(job_id)
    assert (job.state, job.last_error, job.stage) == ("queued", None, None)
    assert attempts.for_job(appliance.rt.db, job_id)[0].outcome == "failed"  # history kept


def test_revoked_token_fails_with_admin_message(appliance: Appliance) -> None:
    appliance.gitlab.revoke_token()
    appliance.runner()(job_id := appliance.new_job())
    job = appliance.job(job_id)
    assert job.state == "failed"
    assert "token" in (job.last_error or "").lower()
    assert "glpat" not in (job.last_error or "")


def test_a_failure_to_set_the_status_does_not_hide_the_real_error(appliance: Appliance) -> None:
    """The model refuses for good while the Git token is revoked at the same moment: the job
    records the model's error, not the failed attempt to say so in the commit status."""
    original = appliance.model._chat

    def chat_then_revoke(request: Request) -> Response:
        appliance.gitlab.revoke_token()
        return original(request)

    appliance.model._routes = [
        (m, p, chat_then_revoke if h == original else h) for m, p, h in appliance.model._routes
    ]
    appliance.model.model = "a-model-we-did-not-ask-for"  # our requests get a 404: fatal
    appliance.runner()(job_id := appliance.new_job())
    job = appliance.job(job_id)
    assert job.state == "failed"
    assert "does not exist" in (job.last_error or "") or "model" in (job.last_error or "").lower()
    assert "status" not in (job.last_error or "").lower()
