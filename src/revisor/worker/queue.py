"""The Huey queue: it carries job ids and nothing else.

Huey's SQLite storage deletes a task as soon as a worker takes it, so a worker killed mid-task
loses it. That is acceptable only because the truth is in our `jobs` table: the reaper
(`revisor.worker.reaper`) finds jobs whose lease expired or whose enqueue was lost and puts their
ids back here. Enqueueing the same id twice is harmless: only one worker can lease a job.
"""

from __future__ import annotations

from collections.abc import Callable

from huey import SqliteHuey
from huey.api import TaskWrapper

from revisor.config import Settings

TASK_NAME = "review_job"

JobRunner = Callable[[int], None]


def _not_a_worker(job_id: int) -> None:
    raise RuntimeError(f"job {job_id} was executed in a process that only enqueues")


class Queue:
    """Producer and consumer side share this class; only the consumer passes a `runner`."""

    def __init__(self, settings: Settings, runner: JobRunner | None = None) -> None:
        self.huey = SqliteHuey(
            name="revisor",
            filename=str(settings.queue_path),
            # The jobs table (synchronous=FULL) is the truth; a queue entry lost to a power cut
            # is re-enqueued by the reaper. Skipping the fsync here keeps intake fast.
            fsync=False,
            journal_mode="wal",
            timeout=10,
            results=False,  # results live in the jobs table
            utc=True,
        )
        run = runner or _not_a_worker

        def review_job(job_id: int) -> None:
            run(job_id)

        self._task: TaskWrapper = self.huey.task(name=TASK_NAME)(review_job)

    def enqueue(self, job_id: int) -> None:
        self._task(job_id)

    def depth(self) -> int:
        return int(self.huey.pending_count())

    def ping(self) -> None:
        """Raise if the queue database cannot be read."""
        self.huey.pending_count()
