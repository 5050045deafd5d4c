"""Granian's entry point: each web worker process builds its app from the data dir.

`revisor serve` sets REVISOR_DATA_DIR before starting Granian; the worker processes it spawns
read it once here, at start-up (this is the composition root of a web process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from litestar import Litestar

from revisor import config, logs, metrics
from revisor.runtime import Runtime
from revisor.web.app import create_app


def cached(probe: Callable[[], dict[str, Any]], ttl: float) -> Callable[[], dict[str, Any]]:
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


def build() -> Litestar:
    settings = config.load(config.default_data_dir())
    logs.configure("web", settings.log, settings.log_dir)
    metrics.register_process(settings.data_dir, "web")
    rt = Runtime(settings, component="web")
    return create_app(settings, model_health=cached(rt.model_health, ttl=5.0))
