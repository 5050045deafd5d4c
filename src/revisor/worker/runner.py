"""Running one job: lease it, keep the lease alive, run the pipeline, record the outcome.

The pipeline itself (fetch, review, post) lives in `revisor.worker.pipeline`; this module only
knows the job life cycle:

- a job that is not ours to run (already leased, superseded, not due) is left alone;
- `Retryable` errors put the job back with exponential backoff until `max_attempts`, after
  which it ends `failed` (the dead letter) with its last error;
- `Fatal` errors end it `failed` at once, with the message an admin can act on;
- a job whose lease was lost mid-run (superseded, cancelled, reaped) records nothing.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from revisor import logs
from revisor.audit import AuditLog, Event, Outcome
from revisor.backoff import backoff
from revisor.config import WorkerSettings
from revisor.domain import MergeRequest
from revisor.errors import Fatal, Retryable, brief
from revisor.store import attempts, jobs
from revisor.store.db import PerThread, now

log = logging.getLogger("revisor.worker")

ERROR_LIMIT = 500  # characters of an error kept in jobs.last_error


class LeaseLost(Exception):
    """The job is no longer ours (superseded, cancelled or reaped): stop without recording."""


@dataclass(frozen=True)
class JobOutcome:
    state: str  # done | skipped | superseded
    result: dict[str, Any]


class JobContext:
    """What a pipeline gets: the job, and a way to report its stage while renewing the lease."""

    def __init__(self, job: jobs.Job, runner: Runner) -> None:
        self.job = job
        self._runner = runner

    def stage(self, name: str) -> None:
        """Record the stage and renew the lease; raises LeaseLost if the job is no longer ours."""
        if not jobs.heartbeat(
            self._runner.dbs.get(),
            self.job.id,
            self._runner.owner,
            self._runner.settings.lease_seconds,
            name,
        ):
            raise LeaseLost(f"job {self.job.id} is no longer leased by this worker")

    def describe(self, mr: MergeRequest) -> None:
        """Keep the merge request's title, author and branches for the job page."""
        attempts.set_mr(
            self._runner.dbs.get(),
            self.job.id,
            {
                "title": mr.title,
                "author": mr.author,
                "source_branch": mr.source_branch,
                "target_branch": mr.target_branch,
            },
        )


Pipeline = Callable[[JobContext], JobOutcome]
# Called when a job ended outside the pipeline (failed, cancelled, superseded): sets the
# merge request's final commit status (`worker/finalstatus.py`).
OnFinal = Callable[[jobs.Job, str], None]


def backoff_delay(
    attempt: int, settings: WorkerSettings, rng: random.Random | None = None
) -> float:
    """The job's wait before its next attempt: `revisor.backoff`, with jitter."""
    return backoff(
        attempt,
        settings.backoff_base_seconds,
        settings.backoff_max_seconds,
        jitter=(rng or random).random,
    )


class Runner:
    def __init__(
        self,
        settings: WorkerSettings,
        dbs: PerThread,
        audit: AuditLog,
        pipeline: Pipeline,
        on_final: OnFinal | None = None,
    ) -> None:
        self.settings = settings
        self.dbs = dbs
        self.audit = audit
        self.pipeline = pipeline
        self.on_final = on_final
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, job_id: int) -> None:
        db = self.dbs.get()
        job = jobs.lease(db, job_id, self.owner, self.settings.lease_seconds)
        if job is None:
            if jobs.defer_if_busy(db, job_id, self.settings.reap_interval_seconds):
                log.info("job %s waits: its merge request is being reviewed", job_id)
            else:
                log.info("job %s not leased (taken, finished or not due)", job_id)
                self._finalize_if_ended(job_id)  # cancelled between attempts
            return
        attempts.start(db, job.id, job.attempts)
        ctx = JobContext(job, self)
        stop = threading.Event()
        beat = threading.Thread(target=self._keep_alive, args=(job_id, stop), daemon=True)
        beat.start()
        try:
            with logs.bound(job_id=job.id, request_id=job.request_id):
                log.info("job started (attempt %d)", job.attempts)
                self._run(ctx)
        finally:
            stop.set()
            beat.join(timeout=5)

    def _keep_alive(self, job_id: int, stop: threading.Event) -> None:
        interval = max(1.0, self.settings.lease_seconds / 3)
        while not stop.wait(interval):
            if not jobs.heartbeat(self.dbs.get(), job_id, self.owner, self.settings.lease_seconds):
                return

    def _run(self, ctx: JobContext) -> None:
        db, job = self.dbs.get(), ctx.job
        try:
            outcome = self.pipeline(ctx)
        except LeaseLost:
            log.info("job %s: lease lost, stopping without recording", job.id)
            attempts.end(db, job.id, job.attempts, "interrupted")
            self._finalize_if_ended(job.id)
            return
        except Retryable as exc:
            if job.attempts >= self.settings.max_attempts:
                self._fail(job, f"gave up after {job.attempts} attempts: {exc}")
                return
            delay = backoff_delay(job.attempts, self.settings)
            if exc.retry_after:  # the remote side's hint, but never beyond our own cap
                delay = min(exc.retry_after, self.settings.backoff_max_seconds)
            log.warning(
                "job %s attempt %s: %s; retrying in %.0fs", job.id, job.attempts, exc, delay
            )
            error = brief(str(exc), ERROR_LIMIT)
            jobs.retry_later(db, job.id, self.owner, error=error, delay_seconds=delay)
            attempts.end(
                db, job.id, job.attempts, "retry", error=error, next_retry_at=now() + delay
            )
            return
        except Fatal as exc:
            self._fail(job, str(exc))
            return
        except Exception as exc:
            log.error("job %s crashed: %s", job.id, traceback.format_exc(limit=8))
            self._fail(job, f"internal error: {type(exc).__name__}: {exc}")
            return
        if jobs.finish(db, job.id, self.owner, outcome.state, result=outcome.result):
            attempts.end(db, job.id, job.attempts, outcome.state)
        else:  # cancelled or superseded while its last step ran
            attempts.end(db, job.id, job.attempts, "interrupted")
            self._finalize_if_ended(job.id)

    def _fail(self, job: jobs.Job, message: str) -> None:
        message = brief(message, ERROR_LIMIT)  # last_error holds no control characters
        attempts.end(self.dbs.get(), job.id, job.attempts, "failed", error=message)
        if jobs.finish(self.dbs.get(), job.id, self.owner, "failed", error=message):
            self.audit.record(
                Event.JOB_FAILED,
                actor="system:worker",
                target=f"job:{job.id}",
                outcome=Outcome.FAILURE,
                error=message[:500],
                attempts=job.attempts,
            )
            self._final_status(job, "failed")
        else:
            self._finalize_if_ended(job.id)

    def _finalize_if_ended(self, job_id: int) -> None:
        """A job cancelled or superseded under us: its commit status must not stay running.
        A job that never ran has no status to end."""
        job = jobs.get(self.dbs.get(), job_id)
        if job is not None and job.state in ("cancelled", "superseded") and job.attempts:
            self._final_status(job, job.state)

    def _final_status(self, job: jobs.Job, state: str) -> None:
        if self.on_final is None:
            return
        try:
            self.on_final(job, state)
        except Exception as exc:  # the job's state is final already; the status is best effort
            log.warning("job %s: final commit status not set: %s", job.id, exc)
