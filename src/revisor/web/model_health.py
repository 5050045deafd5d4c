"""The model endpoint as the web process sees it: the embedded sidecar's address, and the
readiness probe of the default endpoint (`GET /models`, 2 s timeout), cached a few seconds.

Built from `llm.registry.collect_endpoints` (which endpoints, the sidecar included),
`inference.sidecar.ensure_api_key` (the sidecar's key file) and the egress allowlist the
caller passes in; nothing here opens a database or a key ring of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import sqlite_utils

from revisor.config import Settings
from revisor.egress import Egress
from revisor.secrets import KeyRing

ModelHealth = Callable[[], dict[str, Any]]
EgressFor = Callable[[tuple[str, ...]], Egress]
PROBE_TIMEOUT_SECONDS = 2.0


def sidecar_endpoint(settings: Settings) -> tuple[str, str]:
    """URL and API key of the embedded sidecar (the key file is created on first use)."""
    from revisor.inference.sidecar import API_KEY_FILE, ensure_api_key

    m = settings.model
    url = f"http://{m.sidecar_host}:{m.sidecar_port}/v1"
    return url, ensure_api_key(settings.keys_dir / API_KEY_FILE)


def uses_embedded_model(settings: Settings, db: sqlite_utils.Database) -> bool:
    """True when no external model endpoint is configured: `revisor up` runs the sidecar."""
    if settings.model.endpoints:
        return False
    table = db["model_endpoints"]
    return not (table.exists() and table.count)


def probe_default(
    settings: Settings, db: sqlite_utils.Database, keys: KeyRing, egress_for: EgressFor
) -> dict[str, Any]:
    """Probe the default model endpoint for /readyz and the dashboard. Never raises."""
    from revisor.llm.registry import collect_endpoints

    try:
        url = key = None
        if uses_embedded_model(settings, db):
            url, key = sidecar_endpoint(settings)
        found = collect_endpoints(settings, db, keys, sidecar_url=url, sidecar_key=key)
        endpoint = found.endpoints[found.default]
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else None
        with egress_for((endpoint.url,)).client(
            endpoint.url, purpose="model health", timeout=PROBE_TIMEOUT_SECONDS, headers=headers
        ) as client:
            response = client.get(endpoint.url.rstrip("/") + "/models")
        ok = response.status_code == 200
        detail = "ok" if ok else f"HTTP {response.status_code}"
        return {"ok": ok, "endpoint": endpoint.id, "detail": detail}
    except Exception as exc:  # a probe reports, it never raises
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}


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
