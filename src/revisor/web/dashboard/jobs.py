"""The jobs pages: the list (filtered in place by htmx), one job, retry and cancel."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor import jobactions
from revisor.store import jobs, repos
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import OPERATE, READ, require
from revisor.web.dashboard import queries
from revisor.web.dashboard.pages import fmt_time, page, source, who
from revisor.web.resources import Dbs, Resources


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@get("/jobs", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def jobs_page(request: Request[Any, Any, Any], dbs: Dbs) -> Template:
    db = dbs.get()
    state = request.query_params.get("state") or None
    if state not in (None, *jobs.STATES):
        state = None
    repo_id = _int_or_none(request.query_params.get("repo"))
    rows = jobs.list_jobs(db, state=state, repo_id=repo_id, limit=200)
    all_repos = {r.id: r for r in repos.list_all(db)}
    context: dict[str, Any] = {
        "jobs": rows,
        "repos": all_repos,
        "states": jobs.STATES,
        "state": state or "",
        "repo_id": repo_id,
        "fmt_time": fmt_time,
    }
    if request.headers.get("hx-request"):  # htmx filter: only the table
        return page(request, "_jobs_table.html", **context)
    return page(request, "jobs.html", **context)


def _job_or_404(dbs: Dbs, job_id: int) -> jobs.Job:
    job = jobs.get(dbs.get(), job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id}")
    return job


@get("/jobs/{job_id:int}", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def job_detail(request: Request[Any, Any, Any], dbs: Dbs, job_id: FromPath[int]) -> Template:
    job = _job_or_404(dbs, job_id)
    db = dbs.get()
    try:
        repo: repos.Repo | None = repos.get(db, job.repo_id)
    except repos.RepoNotFound:
        repo = None
    result = job.result or {}
    return page(
        request,
        "job.html",
        job=job,
        repo=repo,
        result=result,
        findings=result.get("findings") or [],
        skipped=result.get("skipped") or result.get("skipped_files") or [],
        usage=queries.usage_for_job(db, job.id),
        result_json=json.dumps(result, indent=2, sort_keys=True),
        fmt_time=fmt_time,
    )


def _job_action(
    request: Request[Any, Any, Any], resources: Resources, job_id: int, action: str
) -> Template:
    db = resources.dbs.get()
    try:
        if action == "retry":
            done = jobactions.retry(
                db,
                resources.audit,
                job_id,
                actor=who(request).actor,
                source=source(request),
                enqueue=resources.queue.enqueue,
            )
        else:
            done = jobactions.cancel(
                db,
                resources.audit,
                job_id,
                actor=who(request).actor,
                source=source(request),
                enqueue=resources.queue.enqueue,
            )
    except jobactions.JobNotFound:
        raise NotFoundException(f"no job {job_id}") from None
    verb, undoable = (
        ("queued again", "retried") if action == "retry" else ("cancelled", "cancelled")
    )
    message = (
        f"Job {job_id} {verb}."
        if done.changed
        else f"Job {job_id} is {done.previous_state}; it cannot be {undoable}."
    )
    return page(
        request,
        "_job_actions.html",
        status=200 if done.changed else 409,
        job=_job_or_404(resources.dbs, job_id),
        message=message,
    )


@post(
    "/jobs/{job_id:int}/retry",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def job_retry(
    request: Request[Any, Any, Any], resources: Resources, job_id: FromPath[int]
) -> Template:
    return _job_action(request, resources, job_id, "retry")


@post(
    "/jobs/{job_id:int}/cancel",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def job_cancel(
    request: Request[Any, Any, Any], resources: Resources, job_id: FromPath[int]
) -> Template:
    return _job_action(request, resources, job_id, "cancel")


routes = [jobs_page, job_detail, job_retry, job_cancel]
