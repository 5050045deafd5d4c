"""How 401 and 403 look: a browser is sent to the sign-in page, a script gets JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from revisor.web.auth.guards import principal_of


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )


def not_authorized(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if _wants_json(request):
        return Response({"error": "sign in first"}, status_code=401)
    if request.headers.get("hx-request"):  # htmx: make the whole page go to the sign-in form
        return Response("", status_code=401, headers={"HX-Redirect": "/login"})
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(f"/login?next={quote(target, safe='/')}", status_code=303)


def forbidden(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail = exc.detail or "forbidden"
    if _wants_json(request):
        return Response({"error": detail}, status_code=403)
    p = principal_of(request)
    return Template(
        template_name="error.html",
        context={
            "principal": p,
            "csrf": p.csrf if p else "",
            "title": "Not allowed",
            "message": detail,
        },
        status_code=403,
    )


def audit_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An action whose audit record could not be written was refused (and rolled back)."""
    message = "The audit log cannot be written, so the action was refused; nothing was changed."
    if _wants_json(request):
        return Response({"error": message}, status_code=503)
    return Response(message, status_code=503, media_type="text/plain")
