"""Retry and cancel a review job by hand: one function each, for the CLI, the API and the
dashboard alike, so that every entry point writes the same audit record.

The record is written inside the state change's transaction (`store.jobs._owned`): if it
cannot be written the change is rolled back and `AuditWriteError` propagates (fail closed). A
refused change (the job is in the wrong state) is recorded too, with outcome "failure".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from revisor.audit import AuditLog, Event, Outcome
from revisor.errors import RevisorError
from revisor.store import jobs, suppressions

log = logging.getLogger("revisor.jobactions")

Enqueue = Callable[[int], None]


class JobNotFound(RevisorError):
    """No job has that id."""


@dataclass(frozen=True)
class JobActionResult:
    job_id: int
    changed: bool
    previous_state: str


def retry(
    db: sqlite_utils.Database,
    audit: AuditLog,
    job_id: int,
    *,
    actor: str,
    source: str = "",
    enqueue: Enqueue | None = None,
) -> JobActionResult:
    """Queue a failed or cancelled job again (fresh attempt count), then put its id on the
    queue. A lost enqueue is harmless: the reaper enqueues queued jobs it finds."""
    result = _change(db, audit, job_id, Event.JOB_RETRIED, jobs.requeue, actor, source)
    if result.changed and enqueue is not None:
        try:
            enqueue(job_id)
        except Exception as exc:  # the job row is queued; the reaper will enqueue it
            log.warning("enqueue of job %s failed, the reaper will retry: %s", job_id, exc)
    return result


def cancel(
    db: sqlite_utils.Database,
    audit: AuditLog,
    job_id: int,
    *,
    actor: str,
    source: str = "",
    enqueue: Enqueue | None = None,
) -> JobActionResult:
    """Cancel a queued or running job (a running worker loses its lease and stops, and sets
    the final commit status). A queued job that already ran once may have left a "pending"
    status: its id goes on the queue, and the worker that finds it cancelled ends the status."""
    result = _change(db, audit, job_id, Event.JOB_CANCELLED, jobs.cancel, actor, source)
    job = jobs.get(db, job_id)
    if result.changed and result.previous_state == "queued" and job and job.attempts and enqueue:
        try:
            enqueue(job_id)
        except Exception as exc:  # the job is cancelled; only its commit status waits
            log.warning("enqueue of cancelled job %s failed: %s", job_id, exc)
    return result


def _change(
    db: sqlite_utils.Database,
    audit: AuditLog,
    job_id: int,
    event: Event,
    change: Callable[[sqlite_utils.Database, int, jobs.BeforeCommit], bool],
    actor: str,
    source: str,
) -> JobActionResult:
    job = jobs.get(db, job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")

    def record(changed: bool) -> None:  # inside the update's transaction: no record, no change
        audit.record(
            event,
            actor=actor,
            target=f"job:{job_id}",
            outcome=Outcome.SUCCESS if changed else Outcome.FAILURE,
            source=source,
            previous_state=job.state,
        )

    return JobActionResult(job_id, change(db, job_id, record), job.state)


class SuppressionNotFound(RevisorError):
    """No suppression has that id."""


def remove_suppression(
    db: sqlite_utils.Database,
    audit: AuditLog,
    suppression_id: int,
    *,
    actor: str,
    source: str = "",
) -> suppressions.Suppression:
    """Remove a suppression (CLI and dashboard alike), its audit record written inside the
    delete's transaction; `SuppressionNotFound` when there is none."""

    def record(changed: bool) -> None:
        if changed:
            audit.record(
                Event.SUPPRESSION_REMOVED,
                actor=actor,
                target=f"suppression:{suppression_id}",
                source=source,
                repo_id=found.repo_id if found else None,
                fingerprint=found.fingerprint if found else "",
            )

    found = suppressions.get(db, suppression_id)
    if found is None or suppressions.remove(db, suppression_id, before_commit=record) is None:
        raise SuppressionNotFound(f"no suppression {suppression_id}")
    return found
