"""Liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get

ModelHealth = Callable[[], dict[str, Any]]


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


def _readiness(request: Request[Any, Any, Any]) -> tuple[bool, dict[str, Any]]:
    state = request.app.state
    checks: dict[str, Any] = {}
    try:
        db = state.intake.dbs.get()
        with db.conn:
            db.conn.execute("BEGIN IMMEDIATE")
            db.conn.execute("ROLLBACK")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc}"
    try:
        state.intake.queue.ping()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = f"error: {exc}"
    model_health: ModelHealth | None = state.get("model_health")
    if model_health is not None:
        checks["model"] = model_health()
    ok = checks["database"] == "ok" and checks["queue"] == "ok"
    if isinstance(checks.get("model"), dict):
        ok = ok and bool(checks["model"].get("ok"))
    return ok, checks


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready to take webhooks: database writable, queue reachable, model endpoint healthy."""
    ok, checks = await anyio.to_thread.run_sync(lambda: _readiness(request))
    return Response({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


routes = [healthz, readyz]
