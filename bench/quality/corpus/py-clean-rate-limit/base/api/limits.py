"""Per-client request limits for the public API."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Window:
    started: float
    count: int


class FixedWindowLimiter:
    """At most `limit` requests per client in each `period`-second window."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._windows: dict[str, Window] = {}

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        window = self._windows.get(client)
        if window is None or now - window.started >= self.period:
            self._windows[client] = Window(now, 1)
            return True
        if window.count >= self.limit:
            return False
        window.count += 1
        return True
