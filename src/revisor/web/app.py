"""`create_app()`: the Litestar application, built from settings that are passed in; the
resources it serves with are opened by its lifespan (`web/resources.py`)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from revisor.config import Settings
from revisor.egress import Egress
from revisor.errors import AuditWriteError
from revisor.web import api, error_pages, health, hooks, metrics_route
from revisor.web.auth import errors
from revisor.web.auth import routes as auth_routes
from revisor.web.auth.middleware import security_headers_middleware, session_middleware
from revisor.web.auth.routes import Authenticator
from revisor.web.auth.tokens import principal_for_token
from revisor.web.client_address import parse_networks, proxy_headers_middleware
from revisor.web.dashboard import routes as dashboard
from revisor.web.model_health import ModelHealth
from revisor.web.resources import ResourceHolder, WebResources, dependencies

log = logging.getLogger("revisor.web")
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (kept from `X-Request-Id` if it is sane) and echo it back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
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
    authenticator: Authenticator | None = None,
    egress: Egress | None = None,
    probe_model: bool = False,
) -> Litestar:
    """The app; its lifespan opens the process's `WebResources` and closes them at shutdown.

    `model_health`: the readiness probe of the model (tests); `probe_model`: without one,
    probe the default model endpoint (the served app, `web/factory.py`)."""
    holder = ResourceHolder(
        lambda: WebResources.open(
            settings,
            model_health=model_health,
            probe_model=probe_model,
            authenticator=authenticator,
            egress=egress,
        )
    )
    return Litestar(
        route_handlers=[
            *hooks.routes,
            *health.routes,
            *metrics_route.routes,
            *auth_routes.routes,
            *dashboard.routes,
            api.router,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], include_in_schema=False
            ),
            *extra_routes,
        ],
        lifespan=[holder.lifespan],
        dependencies=dependencies(holder),
        middleware=[
            proxy_headers_middleware(parse_networks(settings.web.trusted_proxies)),
            request_id_middleware,
            security_headers_middleware(settings.cookies_secure),
            session_middleware(
                lambda: holder.get().dbs,
                settings.auth,
                tokens=lambda token, address: principal_for_token(
                    holder.get().dbs, holder.get().audit, token, time.time(), address
                ),
            ),
        ],
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        exception_handlers={
            HTTPException: error_pages.http_error,  # 400, 404, 405, 409...: HTML for people
            500: error_pages.internal_error,
            NotAuthorizedException: errors.not_authorized,
            PermissionDeniedException: errors.forbidden,
            AuditWriteError: errors.audit_unavailable,
        },
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=api.openapi_config(),
        debug=False,
    )
