"""The time-based checkpoint: a thread in the worker that signs the head once records have
waited `[audit] checkpoint_minutes` without one, so a quiet appliance does not keep an unsigned
tail for long (the record-count rule alone would wait for the next burst)."""

from __future__ import annotations

import logging
import threading

from revisor.audit.log import AuditLog
from revisor.errors import AuditWriteError

log = logging.getLogger("revisor.audit.timer")


class CheckpointTimer(threading.Thread):
    def __init__(self, audit: AuditLog, *, interval: float = 60.0) -> None:
        super().__init__(name="revisor-audit-checkpoint", daemon=True)
        self.audit = audit
        self.interval = interval
        self.stopped = threading.Event()

    def tick(self) -> int:
        """One pass; the seq it signed, or 0."""
        try:
            cp = self.audit.checkpoint_if_due()
        except AuditWriteError as exc:
            log.error("time-based checkpoint failed, trying again in %.0fs: %s", self.interval, exc)
            return 0
        return cp["seq"] if cp else 0

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.tick()

    def stop(self) -> None:
        self.stopped.set()
