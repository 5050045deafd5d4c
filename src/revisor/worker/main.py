"""`revisor worker`: the Huey consumer plus the reaper, in one process.

The process's resources (`worker/resources.py`) are opened here once and closed once at exit.
"""

from __future__ import annotations

import logging

from revisor import logs, metrics
from revisor.audit.timer import CheckpointTimer
from revisor.config import Settings
from revisor.worker.housekeeping import Housekeeping
from revisor.worker.reaper import Reaper, reap_once
from revisor.worker.resources import WorkerResources

log = logging.getLogger("revisor.worker")


def run_worker(settings: Settings, *, concurrency: int) -> None:
    logs.configure("worker", settings.log, settings.log_dir)
    metrics.register_process(settings.data_dir, "worker")
    res = WorkerResources.open(settings, wrap=metrics.timed_pipeline)
    try:
        _consume(res, concurrency)
    finally:
        res.close()


def _consume(res: WorkerResources, concurrency: int) -> None:
    settings, dbs, queue = res.settings, res.dbs, res.queue
    # Whatever a previous worker left behind (killed mid-job, enqueue lost) is due again now.
    reap_once(dbs, queue, stale_after=settings.worker.lease_seconds)
    reaper = Reaper(
        dbs,
        queue,
        interval=settings.worker.reap_interval_seconds,
        stale_after=settings.worker.lease_seconds,
    )
    reaper.start()
    checkpoints = CheckpointTimer(res.audit)  # [audit] checkpoint_minutes, even when idle
    checkpoints.start()
    housekeeping = Housekeeping(dbs, res.audit)  # expired review transcripts
    housekeeping.start()
    consumer = queue.huey.create_consumer(
        workers=concurrency,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        max_delay=1.0,
        graceful_signal="TERM",  # systemd stops with SIGTERM: finish the running jobs first
    )
    log.info("worker %s consuming with %d threads", res.runner.owner, concurrency)
    try:
        consumer.run()
    finally:
        reaper.stop()
        checkpoints.stop()
        housekeeping.stop()
