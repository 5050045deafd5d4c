"""The feedback page: suppressed findings (searchable, removable by maintainers and admins,
each removal audited through `jobactions.remove_suppression`) and the acceptance rate of
posted findings per repository and model (resolved by a fix: accepted; ignored or thumbed
down: rejected)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter
from litestar.response import Template

from revisor import jobactions
from revisor.store import repos, suppressions
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import OPERATE, READ, require
from revisor.web.dashboard.pages import fmt_time, page, source, who
from revisor.web.resources import Dbs, Resources


def _feedback_page(
    request: Request[Any, Any, Any], dbs: Dbs, search: str = "", **extra: Any
) -> Template:
    db = dbs.get()
    names = {r.id: r.project for r in repos.list_all(db)}
    return page(
        request,
        "feedback.html",
        suppressions=suppressions.list_all(db, search=search[:200]),
        acceptance=suppressions.acceptance(db),
        names=names,
        search=search,
        fmt_time=fmt_time,
        **extra,
    )


@get("/feedback", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def feedback_page(
    request: Request[Any, Any, Any], dbs: Dbs, q: str = Parameter(default="", max_length=200)
) -> Template:
    return _feedback_page(request, dbs, q)


@post(
    "/feedback/suppressions/{suppression_id:int}/remove",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def suppression_remove(
    request: Request[Any, Any, Any], resources: Resources, suppression_id: FromPath[int]
) -> Template:
    try:
        removed = jobactions.remove_suppression(
            resources.dbs.get(),
            resources.audit,
            suppression_id,
            actor=who(request).actor,
            source=source(request),
        )
    except jobactions.SuppressionNotFound:
        raise NotFoundException(f"no suppression {suppression_id}") from None
    return _feedback_page(
        request, resources.dbs, message=f"Suppression {removed.id} removed: {removed.title}"
    )


routes = [feedback_page, suppression_remove]
