"""The web side of the metrics: the `GET /metrics` route (Prometheus text format), and the
one log line + counters of each webhook. The counters themselves live in `revisor.metrics`.

Who may scrape: clients on the loopback interface (Prometheus on the appliance itself, or a
reverse proxy that adds its own authentication), anyone when `[server] metrics_public = true`,
and otherwise only a signed-in admin. The session middleware deliberately skips `/metrics`
(scrapes must not touch the sessions table), so the admin check looks the session up here, and
only for a non-loopback caller.

The metrics reveal counts and latencies, never repositories, paths, users or secrets.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from revisor import metrics
from revisor.domain import ForgeKind
from revisor.web.client_address import client_address
from revisor.web.intake import Answer
from revisor.web.resources import Resources

log = logging.getLogger("revisor.web.hooks")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def webhook_outcome(answer: Answer) -> str:
    """The `outcome` label for a webhook answer."""
    if answer.status >= 500:
        return "error"
    if answer.status == 202:
        return "accepted"
    if answer.status == 200:
        if answer.body.get("duplicate"):
            return "duplicate"
        return "ignored"
    return {401: "unauthorized", 404: "unknown_repo", 400: "bad_request", 429: "rate_limited"}.get(
        answer.status, f"http_{answer.status}"
    )


def observe_webhook(forge: ForgeKind, answer: Answer, request_id: str, seconds: float) -> None:
    """Count the delivery, time it, and write the webhook's log line (ids only, no payload)."""
    outcome = webhook_outcome(answer)
    metrics.WEBHOOKS.labels(forge.value, outcome).inc()
    metrics.INTAKE_SECONDS.labels(forge.value).observe(seconds)
    job_id = answer.body.get("job_id")
    log.info(
        "webhook %s: %s (HTTP %s)%s",
        forge.value,
        outcome,
        answer.status,
        f", job {job_id}" if job_id is not None else "",
        extra={
            "fields": {
                "request_id": request_id,
                "job_id": job_id,
                "forge": forge.value,
                "outcome": outcome,
                "ms": round(seconds * 1000, 1),
            }
        },
    )


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_admin(request: Request[Any, Any, Any], resources: Resources) -> bool:
    from revisor.web.auth import sessions
    from revisor.web.auth.middleware import cookie_value

    session_id = cookie_value(request.scope, sessions.COOKIE)
    if not session_id:
        raise NotAuthorizedException("/metrics is for loopback clients and signed-in admins")
    principal = sessions.lookup(
        resources.dbs.get(), resources.settings.auth, session_id, time.time()
    )
    if principal is None:
        raise NotAuthorizedException("/metrics is for loopback clients and signed-in admins")
    return principal.has("admin")


def scrape(resources: Resources) -> bytes:
    """The exposition text: every process's counters plus the database gauges."""
    directory = metrics.metrics_dir(resources.settings.data_dir)
    registry = metrics.registry_for_scrape(
        directory if metrics.multiprocess_enabled() else None,
        lambda: metrics.read_snapshot(resources.dbs.get(), resources.queue.depth),
    )
    return metrics.render(registry)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(
    request: Request[Any, Any, Any], resources: Resources
) -> Response[bytes]:
    client = client_address(request) or None
    if not resources.settings.server.metrics_public and not is_loopback(client):
        admin = await anyio.to_thread.run_sync(lambda: _is_admin(request, resources))
        if not admin:
            raise PermissionDeniedException("only admins may read /metrics")
    body = await anyio.to_thread.run_sync(lambda: scrape(resources))
    return Response(body, media_type=CONTENT_TYPE)


routes = [metrics_endpoint]
