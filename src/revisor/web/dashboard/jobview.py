"""What the jobs list and the job page show about a job while it lives: the state a person
should read ("retrying" rather than "queued" when attempts have failed), how long it has been
at it, when it tries next, its attempts, and links to the merge request on its Git server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from revisor.forges.links import WebLinks, web_links
from revisor.store import attempts, jobs, repos

POLL_SECONDS = 2  # how often a page showing live jobs asks again


@dataclass(frozen=True)
class JobView:
    job: jobs.Job
    label: str  # what the badge says
    css: str  # the badge's class
    elapsed: float | None  # seconds: running for, or took
    next_retry_at: float | None
    mr: dict[str, Any]  # title, author, branches (text from the forge: shown, never a link)
    links: WebLinks | None

    @property
    def live(self) -> bool:
        return self.job.state not in jobs.TERMINAL


def label_of(job: jobs.Job, t: float) -> tuple[str, str]:
    """A queued job that has failed attempts is "retrying"; one waiting for a retry says so."""
    if job.state == "queued" and job.attempts and job.last_error:
        return f"retrying (attempt {job.attempts} failed)", "retrying"
    return job.state, job.state


def elapsed_of(job: jobs.Job, t: float) -> float | None:
    if job.started_at is None:
        return None
    end = job.finished_at if job.state in jobs.TERMINAL else t
    return max(0.0, (end or t) - job.started_at)


def view(
    job: jobs.Job,
    t: float,
    repo: repos.Repo | None,
    mr: dict[str, Any] | None = None,
) -> JobView:
    label, css = label_of(job, t)
    waiting = job.state == "queued" and job.not_before > t
    return JobView(
        job=job,
        label=label,
        css=css,
        elapsed=elapsed_of(job, t),
        next_retry_at=job.not_before if waiting else None,
        mr=mr or {},
        links=web_links(repo.forge, repo.server, repo.project) if repo else None,
    )


def views(
    db: sqlite_utils.Database, rows: list[jobs.Job], all_repos: dict[int, repos.Repo], t: float
) -> list[JobView]:
    mrs = attempts.mr_of(db, [j.id for j in rows])
    return [view(j, t, all_repos.get(j.repo_id), mrs.get(j.id)) for j in rows]


def finding_line(finding: dict[str, Any]) -> int | None:
    for key in ("line", "new_line", "old_line"):
        value = finding.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


# The sort columns of the jobs list and the SQL each means (only these reach the SQL).
JOB_SORTS: dict[str, str] = {
    "id": "j.id",
    "repo": "r.project",
    "state": "j.state",
    "attempts": "j.attempts",
    "updated": "j.updated_at",
}
RETRYING = "retrying"  # a filter: queued jobs that have failed attempts


def list_page(
    db: sqlite_utils.Database,
    *,
    state: str | None,
    repo_id: int | None,
    sort: str,
    desc: bool,
    limit: int,
    offset: int,
) -> tuple[list[jobs.Job], int]:
    """One page of jobs and the number of all that match."""
    where: list[str] = ["1=1"]
    params: list[Any] = []
    if state == RETRYING:
        where.append("j.state = 'queued' AND j.attempts > 0 AND j.last_error IS NOT NULL")
    elif state:
        where.append("j.state = ?")
        params.append(state)
    if repo_id is not None:
        where.append("j.repo_id = ?")
        params.append(repo_id)
    cond = " AND ".join(where)
    order = f"{JOB_SORTS.get(sort, 'j.id')} {'DESC' if desc else 'ASC'}, j.id DESC"
    total = db.execute(f"SELECT count(*) FROM jobs j WHERE {cond}", params).fetchone()[0]  # noqa: S608
    ids = [
        r[0]
        for r in db.execute(
            f"SELECT j.id FROM jobs j LEFT JOIN repos r ON r.id = j.repo_id WHERE {cond}"  # noqa: S608
            f" ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
    ]
    found = {j.id: j for j in (jobs.get(db, i) for i in ids) if j is not None}
    return [found[i] for i in ids if i in found], int(total)
