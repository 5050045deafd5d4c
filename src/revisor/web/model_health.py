"""The readiness probe of the default model endpoint (`outbound.model_health`), cached a few
seconds: /readyz is polled often, the model is asked at most once per `ttl`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from revisor.egress import Egress

ModelHealth = Callable[[], dict[str, Any]]
EgressFor = Callable[[tuple[str, ...]], Egress]
PROBE_TIMEOUT_SECONDS = 2.0


def cached(probe: ModelHealth, ttl: float) -> ModelHealth:
    """Readiness probes arrive often; the model is asked at most once per `ttl` seconds."""
    lock = threading.Lock()
    last: tuple[float, dict[str, Any]] | None = None

    def get() -> dict[str, Any]:
        nonlocal last
        with lock:
            if last is None or time.monotonic() - last[0] > ttl:
                last = (time.monotonic(), probe())
            return last[1]

    return get
