"""`create_app()`: the Litestar application, built from settings that are passed in."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from revisor.audit import AuditLog
from revisor.config import Settings
from revisor.egress import Egress
from revisor.errors import AuditWriteError, ConfigError
from revisor.secrets import KeyRing
from revisor.store.db import PerThread
from revisor.web import api, health, hooks, metrics
from revisor.web.auth import errors, usernames
from revisor.web.auth import routes as auth_routes
from revisor.web.auth.ldap import LdapAuthenticator, LdapUser
from revisor.web.auth.middleware import security_headers_middleware, session_middleware
from revisor.web.auth.routes import AuthContext, Authenticator
from revisor.web.client_address import parse_networks, proxy_headers_middleware
from revisor.web.dashboard import routes as dashboard_routes
from revisor.web.dashboard import servers as dashboard_servers
from revisor.web.health import ModelHealth
from revisor.web.intake import Intake
from revisor.worker.queue import Queue

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
) -> Litestar:
    dbs = PerThread(settings.db_path)
    keys = KeyRing.load(settings.keys_dir)
    intake = Intake(
        settings=settings,
        dbs=dbs,
        keys=keys,
        audit=AuditLog.from_settings(settings),
        queue=Queue(settings),
    )
    if authenticator is None and settings.ldap.enabled:
        authenticator = _ldap_authenticator(settings, egress)
    auth = AuthContext(
        settings=settings,
        dbs=dbs,
        audit=intake.audit,
        authenticator=authenticator,
        name_key=usernames.hash_key(keys.keys[keys.current]),
    )
    state = State(
        {"settings": settings, "intake": intake, "model_health": model_health, "auth": auth}
    )
    return Litestar(
        route_handlers=[
            *hooks.routes,
            *health.routes,
            *metrics.routes,
            *auth_routes.routes,
            *dashboard_routes.routes,
            *dashboard_servers.routes,
            api.router,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], include_in_schema=False
            ),
            *extra_routes,
        ],
        state=state,
        middleware=[
            proxy_headers_middleware(parse_networks(settings.web.trusted_proxies)),
            request_id_middleware,
            security_headers_middleware(settings.cookies_secure),
            session_middleware(dbs, settings.auth),
        ],
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        exception_handlers={
            NotAuthorizedException: errors.not_authorized,
            PermissionDeniedException: errors.forbidden,
            AuditWriteError: errors.audit_unavailable,
        },
        request_max_body_size=settings.server.max_body_bytes,
        on_shutdown=[lambda _app: intake.close()],
        openapi_config=api.openapi_config(),
        debug=False,
    )


class _Unavailable:
    """Stands in for a misconfigured directory: the app still starts (the break-glass admin can
    sign in and fix things), and every LDAP sign-in fails with the configuration error."""

    def __init__(self, error: ConfigError) -> None:
        self.error = error

    def authenticate(self, username: str, password: str) -> LdapUser:
        raise self.error


def _ldap_authenticator(settings: Settings, egress: Egress | None) -> Authenticator:
    egress = egress or Egress.from_urls([*settings.ldap.servers, *settings.egress.allow])
    try:
        return LdapAuthenticator.from_settings(settings.ldap, egress)
    except ConfigError as exc:
        log.error("LDAP sign-in is disabled by a configuration error: %s", exc)
        return _Unavailable(exc)
