"""CSRF protection for everything a signed-in browser can change.

Every unsafe request (POST, PUT, PATCH, DELETE) from a session must carry that session's token,
either as the `_csrf` form field (plain forms) or in the `X-CSRF-Token` header (htmx sends it:
the base template puts `hx-headers` on <body>, so no inline script is needed). The sign-in form,
which has no session yet, uses a double-submit cookie instead (`login_token_ok`). SameSite=Strict
cookies already stop most cross-site posts; the token covers older browsers and same-site
attackers (another app on a sibling host name).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

HEADER = "x-csrf-token"
FIELD = "_csrf"
LOGIN_COOKIE = "revisor_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def tokens_match(expected: str, given: str | None) -> bool:
    return (
        bool(expected)
        and bool(given)
        and hmac.compare_digest(expected.encode(), (given or "").encode())
    )


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def submitted_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get(HEADER)
    if header:
        return header
    if isinstance(connection, Request):
        content_type = connection.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await connection.form()
            value = form.get(FIELD)
            return value if isinstance(value, str) else None
    return None


async def csrf_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse an unsafe request whose token does not match the session's."""
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        return
    principal = connection.scope.get("state", {}).get("principal")
    if principal is None:
        return  # the role guard answers 401; nothing to protect without a session
    if principal.via_token:
        return  # a bearer token is never sent by a browser on its own: no forgery to stop
    if not tokens_match(principal.csrf, await submitted_token(connection)):
        raise PermissionDeniedException("missing or wrong CSRF token; reload the page")
