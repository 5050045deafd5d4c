"""The job state machine: lease, heartbeat, finish, retry, reaper, dead letter."""

from __future__ import annotations

import time

import pytest

from revisor.store import jobs
from revisor.store.db import migrate, open_database, pending_migrations
from tests.conftest import DataDir


def new_job(d: DataDir, head: str = "a" * 40, mr: int = 1) -> int:
    return jobs.create(d.rt.db, repo_id=d.gitlab.id, mr_number=mr, head_sha=head, trigger="open")


def test_only_one_worker_can_lease_a_job(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    job_id = new_job(data_dir)
    first = jobs.lease(db, job_id, "w1", 60)
    assert first is not None
    assert (first.state, first.attempts, first.lease_owner) == ("running", 1, "w1")
    assert jobs.lease(db, job_id, "w2", 60) is None


def test_writes_need_the_lease(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    job_id = new_job(data_dir)
    jobs.lease(db, job_id, "w1", 60)
    assert jobs.heartbeat(db, job_id, "w2", 60) is False
    assert jobs.finish(db, job_id, "w2", "done", result={}) is False
    assert jobs.heartbeat(db, job_id, "w1", 60, stage="review") is True
    assert jobs.finish(db, job_id, "w1", "done", result={"findings": 2}) is True
    job = jobs.get(db, job_id)
    assert job is not None
    assert (job.state, job.result, job.stage) == ("done", {"findings": 2}, "review")
    assert jobs.finish(db, job_id, "w1", "done") is False  # finished once only


def test_retry_later_is_not_due_until_backoff_passes(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    job_id = new_job(data_dir)
    jobs.lease(db, job_id, "w1", 60)
    assert jobs.retry_later(db, job_id, "w1", error="model down", delay_seconds=3600)
    assert jobs.lease(db, job_id, "w1", 60) is None  # not due
    assert jobs.reap(db, stale_after=0) == []
    db.execute("UPDATE jobs SET not_before = 0 WHERE id = ?", [job_id])
    assert jobs.reap(db, stale_after=60) == [job_id]  # due and not on the queue
    assert jobs.reap(db, stale_after=60) == []  # enqueued just now: not again
    job = jobs.lease(db, job_id, "w1", 60)
    assert job is not None
    assert (job.attempts, job.last_error) == (2, "model down")


def test_reaper_requeues_expired_lease(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    job_id = new_job(data_dir)
    jobs.lease(db, job_id, "dead-worker", 0.01)
    time.sleep(0.05)
    assert jobs.reap(db, stale_after=60) == [job_id]
    job = jobs.get(db, job_id)
    assert job is not None
    assert (job.state, job.lease_owner) == ("queued", None)
    assert jobs.finish(db, job_id, "dead-worker", "done") is False
    assert jobs.lease(db, job_id, "w2", 60) is not None


def test_reaper_finds_lost_enqueue(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    job_id = new_job(data_dir)
    assert jobs.reap(db, stale_after=60) == []  # enqueued a moment ago: leave it
    assert jobs.reap(db, stale_after=-1) == [job_id]


def test_failed_job_can_be_requeued_with_fresh_attempts(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    job_id = new_job(data_dir)
    assert jobs.requeue(db, job_id) is False  # queued jobs are not dead letters
    jobs.lease(db, job_id, "w1", 60)
    jobs.finish(db, job_id, "w1", "failed", error="token rejected")
    assert jobs.requeue(db, job_id) is True
    job = jobs.get(db, job_id)
    assert job is not None
    assert (job.state, job.attempts) == ("queued", 0)


def test_cancel(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    job_id = new_job(data_dir)
    jobs.lease(db, job_id, "w1", 60)
    assert jobs.cancel(db, job_id) is True
    assert jobs.heartbeat(db, job_id, "w1", 60) is False
    assert jobs.cancel(db, job_id) is False


def test_worker_cannot_finish_with_arbitrary_state(data_dir: DataDir) -> None:
    with pytest.raises(ValueError, match="cannot finish"):
        jobs.finish(data_dir.rt.db, 1, "w1", "queued")


def test_counts_by_state_includes_every_state(data_dir: DataDir) -> None:
    new_job(data_dir)
    counts = jobs.counts_by_state(data_dir.rt.db)
    assert counts["queued"] == 1
    assert set(counts) == set(jobs.STATES)


def test_migrations_are_idempotent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = open_database(tmp_path / "x.db")
    assert pending_migrations(db) == []
    assert migrate(db) == []
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_one_review_per_merge_request_at_a_time(data_dir: DataDir) -> None:
    db = data_dir.rt.db
    first = new_job(data_dir, mr=4)
    second = new_job(data_dir, mr=4)  # e.g. `/revisor review` while the first one runs
    other_mr = new_job(data_dir, mr=5)
    assert jobs.lease(db, first, "w1", 60) is not None
    assert jobs.lease(db, second, "w2", 60) is None
    assert jobs.lease(db, other_mr, "w2", 60) is not None  # other merge requests go ahead
    assert jobs.defer_if_busy(db, second, 30) is True
    job = jobs.get(db, second)
    assert job is not None
    assert job.state == "queued"
    assert job.not_before > time.time() + 20
    jobs.finish(db, first, "w1", "done", result={})
    db.execute("UPDATE jobs SET not_before = 0 WHERE id = ?", [second])
    assert jobs.defer_if_busy(db, second, 30) is False
    assert jobs.lease(db, second, "w2", 60) is not None
