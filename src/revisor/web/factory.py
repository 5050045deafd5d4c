"""Granian's entry point: each web worker process builds its app from the data dir.

`revisor serve` sets REVISOR_DATA_DIR before starting Granian; the worker processes it spawns
read it once here, at start-up (this is the composition root of a web process). The settings
are loaded once; the resources the app serves with are opened by its lifespan and closed when
the worker stops (`web/resources.py`).
"""

from __future__ import annotations

from litestar import Litestar

from revisor import config, logs, metrics
from revisor.web.app import create_app


def build() -> Litestar:
    settings = config.load(config.default_data_dir())
    logs.configure("web", settings.log, settings.log_dir)
    metrics.register_process(settings.data_dir, "web")
    return create_app(settings, probe_model=True)
