"""The merge request's commit status ends in a final state that matches its job.

The pipeline sets "running" (or "pending" while the model is away) and, when it finishes, the
verdict. When the job ends elsewhere (the runner gives up after the last retry, a crash, a
cancel or a newer commit), this sets the status that says so; otherwise the forge would show
"running" or "pending" forever. The texts are fixed: nothing from an error goes to the forge.
"""

from __future__ import annotations

import dataclasses
import logging

from revisor.audit import AuditLog
from revisor.domain import StatusState
from revisor.errors import RevisorError
from revisor.forges.base import Forge
from revisor.store.jobs import Job
from revisor.worker.pipeline import StatusReporter

log = logging.getLogger("revisor.worker.finalstatus")

FINAL: dict[str, tuple[StatusState, str]] = {
    "failed": (StatusState.FAILED, "Revisor could not finish the review: see the job page"),
    "cancelled": (StatusState.CANCELLED, "Revisor review cancelled"),
    "superseded": (StatusState.CANCELLED, "Revisor review superseded by a newer commit"),
}


def final_status(state: str) -> tuple[StatusState, str] | None:
    """The commit status for a job that ended in `state` outside the pipeline; None when the
    pipeline itself sets it (done, skipped) or the job has not ended."""
    return FINAL.get(state)


def finalize(forge: Forge, audit: AuditLog, job: Job, state: str, url: str) -> bool:
    """Set the final status of `job`'s head commit; False (logged) when the forge refused or
    could not be reached: the job's own state is already final either way."""
    final = final_status(state)
    if final is None:
        return False
    try:
        mr = forge.fetch_merge_request(job.mr_number)
        if job.head_sha:
            mr = dataclasses.replace(mr, head_sha=job.head_sha)
        StatusReporter(forge, audit, job.id, mr, url).set(*final)
    except RevisorError as exc:
        log.warning("job %s: could not set the final commit status: %s", job.id, exc)
        return False
    return True
