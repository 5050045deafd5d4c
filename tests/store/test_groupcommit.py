"""Group commit: many waiting writes, one transaction, each caller answered after its commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from revisor.store import jobs
from revisor.store.groupcommit import GroupCommitter
from tests.conftest import DataDir


def test_batches_waiting_items_and_returns_each_its_result() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def commit(items: Sequence[int]) -> list[int]:
        gate.wait(5)  # hold the first batch so the others pile up behind it
        batches.append(list(items))
        return [i * 10 for i in items]

    committer: GroupCommitter[int, int] = GroupCommitter(commit)
    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(committer.submit, i) for i in range(20)]
        gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert results == [i * 10 for i in range(20)]
    assert sorted(i for b in batches for i in b) == list(range(20))
    assert len(batches) < 20  # some items shared a transaction


def test_a_failed_commit_fails_every_caller_of_that_batch() -> None:
    def commit(items: Sequence[str]) -> list[str]:
        if "bad" in items:
            raise ValueError("disk full")
        return list(items)

    committer: GroupCommitter[str, str] = GroupCommitter(commit)
    with pytest.raises(ValueError, match="disk full"):
        committer.submit("bad")
    assert committer.submit("good") == "good"  # the writer survives


def test_after_runs_once_callers_are_answered_and_its_failure_is_contained() -> None:
    answered = threading.Event()
    seen: list[list[int]] = []

    def after(results: Sequence[int]) -> None:
        assert answered.wait(5)  # the caller got its result before this step ran
        seen.append(list(results))
        raise OSError("queue unavailable")

    committer: GroupCommitter[int, int] = GroupCommitter(list, after=after)
    assert committer.submit(1) == 1
    answered.set()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [[1]]
    answered.clear()
    future = committer.submit_nowait(2)
    assert future.result(timeout=5) == 2  # the writer survived the failed after-step
    answered.set()


def test_deliveries_in_one_transaction_see_each_other(data_dir: DataDir) -> None:
    db, repo = data_dir.rt.db, data_dir.gitlab.id
    results = jobs.record_deliveries(
        db,
        [
            jobs.Delivery("k1", repo, "Merge Request Hook", 5, "a" * 40, "open"),
            jobs.Delivery("k1", repo, "Merge Request Hook", 5, "a" * 40, "open"),  # replay
            jobs.Delivery("k2", repo, "Note Hook", 5, "a" * 40, "command"),  # joins
            jobs.Delivery("k3", repo, "Merge Request Hook", 5, "b" * 40, "update"),  # supersedes
        ],
    )
    first, replay, joined, newer = results
    assert first.created
    assert (replay.duplicate, replay.job_id) == (True, first.job_id)
    assert (joined.created, joined.job_id) == (False, first.job_id)
    assert newer.superseded == (first.job_id,)
    assert [j.state for j in jobs.list_jobs(db)] == ["queued", "superseded"]


def test_close_commits_what_is_waiting_then_stops_the_writer_thread() -> None:
    gate = threading.Event()
    committed: list[int] = []

    def commit(items: Sequence[int]) -> list[int]:
        gate.wait(5)  # hold the first batch: the others are still waiting when close() comes
        committed.extend(items)
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(commit, name="closing-writer")
    futures = [committer.submit_nowait(i) for i in range(5)]
    closer = threading.Thread(target=committer.close)
    closer.start()
    gate.set()
    closer.join(10)
    assert [f.result(timeout=1) for f in futures] == list(range(5))
    assert committed == list(range(5))
    assert not committer.running
    assert "closing-writer" not in {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit_nowait(6)
    committer.close()  # a second close is harmless
