"""Periodic housekeeping in the worker: review transcripts past their retention are deleted.

A thread like the reaper and the checkpoint timer (`worker/main.py` starts all three), with one
pass at start-up so a worker that was down for a while catches up at once. Each pass that
deleted something writes a `transcript.purged` audit record.
"""

from __future__ import annotations

import logging
import threading

from revisor.audit import AuditLog, Event
from revisor.store import transcripts
from revisor.store.db import PerThread

log = logging.getLogger("revisor.worker.housekeeping")

PURGE_INTERVAL = 3600.0  # transcripts are kept whole days: an hour late is fine


def purge_once(dbs: PerThread, audit: AuditLog, t: float | None = None) -> int:
    """Delete the expired transcript entries; returns how many."""
    count = transcripts.purge(dbs.get(), t)
    if count:
        audit.record(
            Event.TRANSCRIPTS_PURGED, actor="system:worker", target="transcripts", count=count
        )
        log.info("purged %d expired transcript entr%s", count, "y" if count == 1 else "ies")
    return count


class Housekeeping(threading.Thread):
    def __init__(self, dbs: PerThread, audit: AuditLog, *, interval: float = PURGE_INTERVAL):
        super().__init__(name="revisor-housekeeping", daemon=True)
        self.dbs, self.audit, self.interval = dbs, audit, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            try:
                purge_once(self.dbs, self.audit)
            except Exception:
                log.exception("transcript purge failed; trying again in %.0fs", self.interval)
            if self.stopped.wait(self.interval):
                return

    def stop(self) -> None:
        self.stopped.set()
