"""A job's review transcript: the redacted prompt, the model's raw answer, the parsed findings
and what was posted, with links to the merge request on its Git server.

Transcripts hold code, so only the roles that may read it (`READ_CODE`) open them, and each read
writes a `transcript.read` audit record before anything is shown (no record, no transcript).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor.audit import Event
from revisor.forges import merge_request_links
from revisor.store import jobs, repos, transcripts
from revisor.web.auth.guards import READ_CODE, require
from revisor.web.dashboard.pages import fmt_time, page, source, who
from revisor.web.resources import Resources


@get(
    "/jobs/{job_id:int}/transcript",
    guards=[require(READ_CODE)],
    sync_to_thread=True,
    include_in_schema=False,
)
def job_transcript(
    request: Request[Any, Any, Any], resources: Resources, job_id: FromPath[int]
) -> Template:
    db = resources.dbs.get()
    job = jobs.get(db, job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id}")
    count = transcripts.count_for_job(db, job_id)
    resources.audit.record(
        Event.TRANSCRIPT_READ,
        actor=who(request).actor,
        target=f"job:{job_id}",
        source=source(request),
        entries=count,
    )
    entries = transcripts.for_job(db, resources.keys, job_id)
    try:
        repo: repos.Repo | None = repos.get(db, job.repo_id)
    except repos.RepoNotFound:
        repo = None
    links = (
        merge_request_links(repo.forge, repo.server, repo.project, job.mr_number) if repo else None
    )
    return page(
        request,
        "transcript.html",
        job=job,
        repo=repo,
        links=links,
        exchanges=[e for e in entries if e.kind == "exchange"],
        outcomes=[e for e in entries if e.kind == "outcome"],
        days=transcripts.days_for(db, job.repo_id),
        fmt_time=fmt_time,
    )


routes = [job_transcript]
