"""ASGI middleware: who is signed in (sessions) and the security headers on every answer.

The session middleware never touches the database for webhook, probe, metrics or static paths:
webhooks must answer fast and authenticate by signature, probes must work without a session.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie

import anyio.to_thread
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from revisor.config import AuthSettings
from revisor.store.db import PerThread
from revisor.web.auth import sessions
from revisor.web.auth.sessions import Principal
from revisor.web.auth.tokens import bearer_token

NO_SESSION_PREFIXES = ("/hooks/", "/healthz", "/readyz", "/metrics", "/static/")

# No inline script or style anywhere: templates link /static files only; SVG charts use
# presentation attributes, which CSP does not treat as inline style.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def cookie_value(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            try:
                jar = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                return None
            if name in jar:
                return jar[name].value
    return None


TokenLookup = Callable[[str, str], Principal | None]  # (token, client address) -> principal


def session_middleware(
    dbs: Callable[[], PerThread], settings: AuthSettings, tokens: TokenLookup | None = None
) -> Callable[[ASGIApp], ASGIApp]:
    """`dbs` returns the web process's pool at request time (it is opened by the lifespan,
    after the middleware stack is built). `tokens`: API tokens, on /api/ paths only, for a
    request without a session cookie (`web/auth/tokens.py`)."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and not scope["path"].startswith(
                NO_SESSION_PREFIXES
            ):
                state = scope.setdefault("state", {})
                session_id = cookie_value(scope, sessions.COOKIE)
                token = (
                    bearer_token(scope.get("headers", []))
                    if tokens is not None and not session_id and scope["path"].startswith("/api/")
                    else None
                )
                if token and tokens is not None:
                    address = (scope.get("client") or ("", 0))[0]
                    state["principal"] = await anyio.to_thread.run_sync(
                        lambda: tokens(token, address)
                    )
                else:
                    state["principal"] = (
                        await anyio.to_thread.run_sync(
                            lambda: sessions.lookup(dbs().get(), settings, session_id, time.time())
                        )
                        if session_id
                        else None
                    )
            await app(scope, receive, send)

        return middleware

    return wrap


def security_headers_middleware(secure: bool) -> Callable[[ASGIApp], ASGIApp]:
    headers = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if secure:
        headers.append((b"strict-transport-security", b"max-age=31536000"))

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            dynamic = not scope["path"].startswith("/static/")

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    extra = list(headers)
                    if dynamic:
                        extra.append((b"cache-control", b"no-store"))
                    present = {k.lower() for k, _ in message.get("headers", [])}
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k, v) for k, v in extra if k not in present),
                    ]
                await send(message)

            await app(scope, receive, send_with_headers)

        return middleware

    return wrap
