"""Per-client request limits for the public API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Up to `burst` requests at once per client, refilled at `rate` requests per second.

    Smoother than a fixed window: a client cannot send 2x the limit across a window edge.
    Thread-safe; idle clients are forgotten after `idle_seconds` so memory stays bounded.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        idle_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Take one token for `client` if it has one."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = Bucket(float(self.burst), now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            if bucket.tokens < 1.0:
                return False
            bucket.tokens -= 1.0
            return True

    def retry_after(self, client: str) -> float:
        """Seconds until `client` has a token again (0 when it has one now)."""
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                return 0.0
            elapsed = max(0.0, self._clock() - bucket.updated)
            tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def forget_idle(self) -> int:
        """Drop clients idle for longer than `idle_seconds`; return how many were dropped."""
        with self._lock:
            cutoff = self._clock() - self.idle_seconds
            idle = [c for c, b in self._buckets.items() if b.updated < cutoff]
            for client in idle:
                del self._buckets[client]
            return len(idle)
