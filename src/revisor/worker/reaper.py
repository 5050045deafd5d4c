"""The reaper: puts back on the queue what Huey lost or what is due again.

Runs as a thread inside the worker process. Each pass re-queues running jobs whose lease
expired (their worker died), and enqueues queued jobs that are due but not on the queue
(a retry whose backoff is over, or an enqueue that was lost after the job row was committed).
"""

from __future__ import annotations

import logging
import threading

from revisor.store import jobs
from revisor.store.db import PerThread
from revisor.worker.queue import Queue

log = logging.getLogger("revisor.worker.reaper")


def reap_once(dbs: PerThread, queue: Queue, stale_after: float) -> list[int]:
    due = jobs.reap(dbs.get(), stale_after=stale_after)
    for job_id in due:
        queue.enqueue(job_id)
    if due:
        log.info("reaper enqueued jobs %s", due)
    return due


class Reaper(threading.Thread):
    def __init__(
        self, dbs: PerThread, queue: Queue, *, interval: float, stale_after: float
    ) -> None:
        super().__init__(name="revisor-reaper", daemon=True)
        self.dbs, self.queue = dbs, queue
        self.interval, self.stale_after = interval, stale_after
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                reap_once(self.dbs, self.queue, self.stale_after)
            except Exception:
                log.exception("reaper pass failed; trying again in %.0fs", self.interval)

    def stop(self) -> None:
        self.stopped.set()
