"""The JSON API under /api: what the dashboard shows, for scripts. Same session, roles and CSRF
(send the token in `X-CSRF-Token`; `GET /api/me` returns it).

The OpenAPI schema is served at /api/schema/openapi.json by Litestar's JSON render plugin only:
Litestar's UI plugins (Swagger, Redoc, Scalar...) load their JavaScript from CDNs, which an
air-gapped appliance cannot reach. /api/docs is our own page, rendered from the schema by a
small vendored script (static/api-docs.js).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template

from revisor import __version__, jobactions
from revisor.store import attempts, jobs, repos
from revisor.web.auth import sessions
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import AUDIT, OPERATE, READ, require, signed_in
from revisor.web.client_address import client_address
from revisor.web.dashboard import queries
from revisor.web.dashboard.pages import page
from revisor.web.resources import Audit, Dbs, Resources

SCHEMA_PATH = "/api/schema"


def clamp_limit(limit: int, maximum: int) -> int:
    """A `limit` query parameter kept within 1..maximum: SQLite reads a negative LIMIT as "no
    limit", and a huge one would not fit its 64-bit integer."""
    return max(1, min(limit, maximum))


@get("/me", guards=[require(READ)])
async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Who is signed in, their roles, and the CSRF token to send with changes."""
    p = signed_in(request)
    return {
        "username": p.username,
        "display_name": p.display_name,
        "roles": sorted(p.roles),
        "csrf": p.csrf,
    }


@get("/overview", guards=[require(READ)], sync_to_thread=True)
def api_overview(dbs: Dbs) -> dict[str, Any]:
    """Queue depth, jobs and failures of the last 24 hours, Git server traffic."""
    db = dbs.get()
    t = time.time()
    return {**queries.overview(db, t), "forges": queries.forge_health(db, t)}


@get("/jobs", guards=[require(READ)], sync_to_thread=True)
def api_jobs(
    dbs: Dbs,
    job_state: Annotated[str | None, QueryParameter(name="state")] = None,
    repo: FromQuery[int | None] = None,
    limit: FromQuery[int] = 100,
) -> list[dict[str, Any]]:
    """Jobs, newest first; filter by state and repository id."""
    db = dbs.get()
    return [
        j.public()
        for j in jobs.list_jobs(db, state=job_state, repo_id=repo, limit=clamp_limit(limit, 1000))
    ]


@get("/jobs/{job_id:int}", guards=[require(READ)], sync_to_thread=True)
def api_job(dbs: Dbs, job_id: FromPath[int]) -> dict[str, Any]:
    """One job with its result, model usage, attempts and merge request (title, author,
    branches as the worker fetched them)."""
    db = dbs.get()
    job = jobs.get(db, job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id}")
    return {
        **job.public(),
        "usage": queries.usage_for_job(db, job_id),
        "attempts": [dataclasses.asdict(a) for a in attempts.for_job(db, job_id)],
        "merge_request": attempts.mr_of(db, [job_id]).get(job_id),
    }


def _action(
    request: Request[Any, Any, Any], resources: Resources, job_id: int, action: str
) -> dict[str, Any]:
    db = resources.dbs.get()
    actor, source = signed_in(request).actor, client_address(request)
    try:
        if action == "retry":
            done = jobactions.retry(
                db,
                resources.audit,
                job_id,
                actor=actor,
                source=source,
                enqueue=resources.queue.enqueue,
            )
        else:
            done = jobactions.cancel(
                db,
                resources.audit,
                job_id,
                actor=actor,
                source=source,
                enqueue=resources.queue.enqueue,
            )
    except jobactions.JobNotFound:
        raise NotFoundException(f"no job {job_id}") from None
    return {"job_id": job_id, "changed": done.changed, "previous_state": done.previous_state}


@post(
    "/jobs/{job_id:int}/retry",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    status_code=200,
)
def api_retry(
    request: Request[Any, Any, Any], resources: Resources, job_id: FromPath[int]
) -> dict[str, Any]:
    """Queue a failed or cancelled job again (maintainers and admins)."""
    return _action(request, resources, job_id, "retry")


@post(
    "/jobs/{job_id:int}/cancel",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    status_code=200,
)
def api_cancel(
    request: Request[Any, Any, Any], resources: Resources, job_id: FromPath[int]
) -> dict[str, Any]:
    """Cancel a queued or running job (maintainers and admins)."""
    return _action(request, resources, job_id, "cancel")


@get("/repos", guards=[require(READ)], sync_to_thread=True)
def api_repos(dbs: Dbs) -> list[dict[str, Any]]:
    """Registered repositories (no secrets)."""
    return [r.public() for r in repos.list_all(dbs.get())]


@get("/models", guards=[require(READ)], sync_to_thread=True)
def api_models(resources: Resources) -> dict[str, Any]:
    """Model endpoints, their health and the last day's usage."""
    db = resources.dbs.get()
    model_health = resources.model_health
    return {
        "endpoints": queries.model_endpoints(db),
        "health": model_health() if model_health else None,
        "usage_24h": queries.model_usage(db, time.time() - queries.DAY),
    }


@get("/audit", guards=[require(AUDIT)], sync_to_thread=True)
def api_audit(
    audit: Audit,
    q: FromQuery[str] = "",
    event: FromQuery[str] = "",
    actor: FromQuery[str] = "",
    since: FromQuery[float | None] = None,
    until: FromQuery[float | None] = None,
    limit: FromQuery[int] = 200,
) -> list[dict[str, Any]]:
    """Search the audit trail (auditors and admins), newest first."""
    return queries.search_audit(
        audit.db,
        text=q,
        event=event,
        actor=actor,
        since=since,
        until=until,
        limit=clamp_limit(limit, 5000),
    )


@get("/docs", guards=[require(READ)], include_in_schema=False)
async def api_docs(request: Request[Any, Any, Any]) -> Template:
    return page(request, "api_docs.html", schema_url=f"{SCHEMA_PATH}/openapi.json")


router = Router(
    path="/api",
    route_handlers=[
        me,
        api_overview,
        api_jobs,
        api_job,
        api_retry,
        api_cancel,
        api_repos,
        api_models,
        api_audit,
        api_docs,
    ],
    tags=["api"],
)


API_AUTH_DOC = (
    "Two ways in. Scripts and monitoring: an API token (an admin creates it under Settings, "
    "API tokens, with its own roles and expiry; it is shown once) sent as "
    "`Authorization: Bearer rvs_...`; tokens work on /api/ only and need no CSRF token. "
    "A signed-in browser session: send X-CSRF-Token on POST (see GET /api/me)."
)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Revisor API",
        version=__version__,
        description=API_AUTH_DOC,
        components=Components(
            security_schemes={
                "apiToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="rvs_<id>_<secret>",
                    description="An API token with the roles it was given (Settings, API tokens).",
                ),
                "session": SecurityScheme(
                    type="apiKey",
                    name=sessions.COOKIE,
                    security_scheme_in="cookie",
                    description="The dashboard's session cookie; POST also needs X-CSRF-Token.",
                ),
            }
        ),
        security=[{"apiToken": []}, {"session": []}],
        render_plugins=[JsonRenderPlugin()],
        openapi_router=Router(path=SCHEMA_PATH, route_handlers=[], guards=[require(READ)]),
    )
