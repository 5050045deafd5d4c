"""`revisor worker`: the Huey consumer plus the reaper, in one process."""

from __future__ import annotations

import logging

from revisor import logs, metrics
from revisor.audit.timer import CheckpointTimer
from revisor.runtime import Runtime
from revisor.worker.pipeline import build_pipeline
from revisor.worker.queue import Queue
from revisor.worker.reaper import Reaper, reap_once
from revisor.worker.runner import Runner

log = logging.getLogger("revisor.worker")


def run_worker(rt: Runtime, *, concurrency: int) -> None:
    settings = rt.settings
    logs.configure("worker", settings.log, settings.log_dir)
    metrics.register_process(settings.data_dir, "worker")
    dbs = rt.dbs
    runner = Runner(settings.worker, dbs, rt.audit, metrics.timed_pipeline(build_pipeline(rt, dbs)))
    queue = Queue(settings, runner=runner)
    # Whatever a previous worker left behind (killed mid-job, enqueue lost) is due again now.
    reap_once(dbs, queue, stale_after=settings.worker.lease_seconds)
    reaper = Reaper(
        dbs,
        queue,
        interval=settings.worker.reap_interval_seconds,
        stale_after=settings.worker.lease_seconds,
    )
    reaper.start()
    checkpoints = CheckpointTimer(rt.audit)  # [audit] checkpoint_minutes, even when idle
    checkpoints.start()
    consumer = queue.huey.create_consumer(
        workers=concurrency,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        max_delay=1.0,
        graceful_signal="TERM",  # systemd stops with SIGTERM: finish the running jobs first
    )
    log.info("worker %s consuming with %d threads", runner.owner, concurrency)
    try:
        consumer.run()
    finally:
        reaper.stop()
        checkpoints.stop()
