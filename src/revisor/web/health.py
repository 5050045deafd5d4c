"""Liveness and readiness probes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from litestar import Response, get

from revisor.web.resources import Resources, WebResources

log = logging.getLogger(__name__)


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


def _check(name: str, probe: Callable[[], object]) -> str:
    """Run one probe: "ok" or "error". The reason goes to the log, never to the unauthenticated
    answer (an exception's text can name paths, hosts or SQL)."""
    try:
        probe()
    except Exception:
        log.warning("readiness check %s failed", name, exc_info=True)
        return "error"
    return "ok"


def _database_usable(db_path: Path, read: Callable[[], object]) -> None:
    """A read through the web's own connection, and the file and its folder (WAL) writable.
    No write transaction: a probe polled every few seconds must not take the write lock from the
    intake's group commit."""
    read()
    for path in (db_path, db_path.parent):
        if not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is not writable")


def _readiness(resources: WebResources) -> tuple[bool, dict[str, Any]]:
    dbs = resources.dbs
    checks: dict[str, Any] = {
        "database": _check(
            "database",
            lambda: _database_usable(
                Path(dbs.path), lambda: dbs.get().execute("SELECT 1 FROM jobs LIMIT 1").fetchall()
            ),
        ),
        "queue": _check("queue", resources.queue.ping),
    }
    model_health = resources.model_health
    if model_health is not None:
        health = model_health()
        checks["model"] = {"ok": bool(health.get("ok")), "endpoint": health.get("endpoint")}
        if not checks["model"]["ok"]:
            log.warning("readiness check model failed: %s", health.get("detail"))
    ok = checks["database"] == "ok" and checks["queue"] == "ok"
    if "model" in checks:
        ok = ok and checks["model"]["ok"]
    return ok, checks


@get("/readyz", include_in_schema=False)
async def readyz(resources: Resources) -> Response[dict[str, Any]]:
    """Ready to take webhooks: database writable, queue reachable, model endpoint healthy."""
    ok, checks = await anyio.to_thread.run_sync(lambda: _readiness(resources))
    return Response({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


routes = [healthz, readyz]
