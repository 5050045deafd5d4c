"""`create_app()`: the Litestar application, built from settings that are passed in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from revisor.config import Settings
from revisor.secrets import KeyRing
from revisor.store.db import PerThread
from revisor.web import health, hooks
from revisor.web.health import ModelHealth
from revisor.web.intake import Intake
from revisor.worker.queue import Queue
from revisor.audit import AuditLog


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (kept from `X-Request-Id` if it is sane) and echo it back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


def create_app(
    settings: Settings,
    *,
    model_health: ModelHealth | None = None,
    extra_routes: Sequence[Any] = (),
) -> Litestar:
    dbs = PerThread(settings.db_path)
    intake = Intake(
        settings=settings,
        dbs=dbs,
        keys=KeyRing.load(settings.keys_dir),
        audit=AuditLog(settings.audit_path),
        queue=Queue(settings),
    )
    state = State({"settings": settings, "intake": intake, "model_health": model_health})
    return Litestar(
        route_handlers=[*hooks.routes, *health.routes, *extra_routes],
        state=state,
        middleware=[request_id_middleware],
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=None,
        debug=False,
    )
