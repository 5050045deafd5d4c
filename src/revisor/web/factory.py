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
from revisor.context import Context
from revisor.egress import audit_refusals
from revisor.outbound import model_health
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
    ctx = Context(settings, component="web")

    def probe() -> dict[str, Any]:
        try:
            refusals = audit_refusals(ctx.audit, ctx.actor)
            return model_health(settings, ctx.db, ctx.keys, on_refusal=refusals)
        except Exception as exc:  # a probe reports, it never raises
            return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}

    return create_app(settings, model_health=cached(probe, ttl=5.0))
