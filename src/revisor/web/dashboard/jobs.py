"""The jobs pages: the list (filtered, sorted and paged, refreshed in place by htmx while jobs
run), one job (its live part refreshed the same way), retry and cancel."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor import jobactions
from revisor.store import attempts, jobs, repos, transcripts
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import OPERATE, READ, require
from revisor.web.dashboard import jobview, queries
from revisor.web.dashboard.pages import page, source, who
from revisor.web.dashboard.paging import paging_from, with_total
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
    if state not in (None, jobview.RETRYING, *jobs.STATES):
        state = None
    repo_id = _int_or_none(request.query_params.get("repo"))
    paging = paging_from(
        "/jobs",
        request.query_params,
        tuple(jobview.JOB_SORTS),
        keep={"state": state or "", "repo": str(repo_id or "")},
    )
    rows, total = jobview.list_page(
        db,
        state=state,
        repo_id=repo_id,
        sort=paging.sort,
        desc=paging.desc,
        limit=paging.per_page,
        offset=paging.offset,
    )
    paging = with_total(paging, total)
    all_repos = {r.id: r for r in repos.list_all(db)}
    views = jobview.views(db, rows, all_repos, time.time())
    context: dict[str, Any] = {
        "views": views,
        "repos": all_repos,
        "states": (jobview.RETRYING, *jobs.STATES),
        "state": state or "",
        "repo_id": repo_id,
        "paging": paging,
        "live": any(v.live for v in views),
        "poll_seconds": jobview.POLL_SECONDS,
    }
    if request.headers.get("hx-request"):  # htmx filter or refresh: only the table
        return page(request, "_jobs_table.html", **context)
    return page(request, "jobs.html", **context)


def _job_or_404(dbs: Dbs, job_id: int) -> jobs.Job:
    job = jobs.get(dbs.get(), job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id}")
    return job


def _live_context(dbs: Dbs, job: jobs.Job) -> dict[str, Any]:
    db = dbs.get()
    try:
        repo: repos.Repo | None = repos.get(db, job.repo_id)
    except repos.RepoNotFound:
        repo = None
    mr = attempts.mr_of(db, [job.id]).get(job.id)
    return {
        "job": job,
        "repo": repo,
        "v": jobview.view(job, time.time(), repo, mr),
        "history": attempts.for_job(db, job.id),
        "poll_seconds": jobview.POLL_SECONDS,
    }


@get("/jobs/{job_id:int}", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def job_detail(request: Request[Any, Any, Any], dbs: Dbs, job_id: FromPath[int]) -> Template:
    job = _job_or_404(dbs, job_id)
    result = job.result or {}
    return page(
        request,
        "job.html",
        result=result,
        findings=result.get("findings") or [],
        skipped=result.get("skipped") or result.get("skipped_files") or [],
        usage=queries.usage_for_job(dbs.get(), job.id),
        transcript_entries=transcripts.count_for_job(dbs.get(), job.id),
        finding_line=jobview.finding_line,
        **_live_context(dbs, job),
    )


@get(
    "/jobs/{job_id:int}/live",
    guards=[require(READ)],
    sync_to_thread=True,
    include_in_schema=False,
)
def job_live(request: Request[Any, Any, Any], dbs: Dbs, job_id: FromPath[int]) -> Template:
    """The part of the job page that changes while the job runs (htmx polls it). When the job
    has ended, the whole page is loaded again once (`HX-Refresh`), so its findings appear."""
    job = _job_or_404(dbs, job_id)
    answer = page(request, "_job_live.html", **_live_context(dbs, job))
    if job.state in jobs.TERMINAL and request.headers.get("hx-request"):
        answer.headers["HX-Refresh"] = "true"
    return answer


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
    return page(  # the whole live part: the badge, the times and the buttons change together
        request,
        "_job_live.html",
        status=200 if done.changed else 409,
        message=message,
        **_live_context(resources.dbs, _job_or_404(resources.dbs, job_id)),
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


routes = [jobs_page, job_detail, job_live, job_retry, job_cancel]
