"""Errors as a person sees them: an HTML page in the dashboard's frame, JSON for scripts.

A form that was refused (a bad value, a date that is not one) comes back on the error page
with what was typed, ready to correct and send again, instead of being lost; password, token
and secret fields are never echoed back. The CSRF token is the session's current one.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.utils.scope.state import ScopeState

from revisor.web.auth.guards import principal_of

log = logging.getLogger("revisor.web")

TITLES = {400: "That did not work", 404: "Not found", 405: "Not allowed here", 409: "Conflict"}
SECRET_WORDS = ("password", "token", "secret", "key")
MAX_FIELDS = 40


def wants_html(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith(("/api/", "/hooks/")) and "text/html" in (
        request.headers.get("accept", "")
    )


def _fields(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """The fields of the refused form, as it was sent (parsed already by the handler)."""
    if request.method != "POST":
        return []
    form = ScopeState.from_scope(request.scope).form
    if not isinstance(form, dict):
        return []
    out = []
    for name, value in list(form.items())[:MAX_FIELDS]:
        if name == "_csrf" or not isinstance(value, str):
            continue
        secret = any(word in name.lower() for word in SECRET_WORDS)
        out.append({"name": name, "value": "" if secret else value, "secret": secret})
    return out


def error_page(
    request: Request[Any, Any, Any], status: int, message: str, *, title: str = ""
) -> Response[Any]:
    if not wants_html(request):
        return Response({"error": message}, status_code=status)
    p = principal_of(request)
    fields = _fields(request) if p is not None else []
    return Template(
        template_name="error.html",
        context={
            "principal": p,
            "csrf": p.csrf if p else "",
            "path": request.url.path,
            "title": title or TITLES.get(status, "Something went wrong"),
            "message": message,
            "form_action": request.url.path if fields else "",
            "form_fields": fields,
            "referer_path": _same_site_referer(request),
        },
        status_code=status,
    )


def _same_site_referer(request: Request[Any, Any, Any]) -> str:
    referer = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    if referer.startswith(base + "/"):
        path = referer[len(base) :]
        if not path.startswith(("//", "/\\")):
            return path
    return ""


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if not wants_html(request):  # scripts and forges: Litestar's own JSON shape, unchanged
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
        if exc.extra:
            body["extra"] = exc.extra
        return Response(body, status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else "the request was refused"
    extra = getattr(exc, "extra", None)
    if exc.status_code == 400 and isinstance(extra, list) and extra:  # validation: say which
        problems = "; ".join(
            f"{e.get('key', '')}: {e.get('message', '')}" for e in extra if isinstance(e, dict)
        )
        detail = f"{detail} ({problems})" if problems else detail
    return error_page(request, exc.status_code, detail)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    if not wants_html(request):
        return Response({"status_code": 500, "detail": "Internal Server Error"}, status_code=500)
    return error_page(
        request, 500, "Revisor hit an internal error; it is in the log.", title="Internal error"
    )
