"""Review jobs: the source of truth for what must be reviewed.

Huey only carries job ids and forgets a task once a worker picks it up, so everything needed to
resume lives here. States::

    queued -> running -> done | failed | skipped
       ^         |
       +---------+  (retry later: attempts < max, back to queued with not_before)
    queued | running -> superseded  (a newer head commit arrived for the same MR)
    queued | running -> cancelled   (a maintainer cancelled it)
    failed -> queued                (retried by hand: the dead letter goes around again)

A worker *leases* a job (state running, lease_owner, lease_expires) and renews the lease while it
works. Every write a worker makes is conditional on still holding the lease, so a worker that lost
its lease (reaped, superseded, cancelled) cannot finish or post for a job it no longer owns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from revisor.store.conversations import JobMessage, save_message
from revisor.store.db import now

TERMINAL = frozenset({"done", "failed", "superseded", "skipped", "cancelled"})
STATES = ("queued", "running", *sorted(TERMINAL))


@dataclass(frozen=True)
class Job:
    id: int
    repo_id: int
    mr_number: int
    head_sha: str
    trigger: str
    state: str
    attempts: int
    not_before: float
    lease_owner: str | None
    lease_expires: float | None
    stage: str | None
    last_error: str | None
    result: dict[str, Any] | None
    request_id: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo_id": self.repo_id,
            "mr_number": self.mr_number,
            "head_sha": self.head_sha,
            "trigger": self.trigger,
            "state": self.state,
            "attempts": self.attempts,
            "stage": self.stage,
            "last_error": self.last_error,
            "result": self.result,
            "request_id": self.request_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def _from_row(row: dict[str, Any]) -> Job:
    fields = {k: row[k] for k in Job.__dataclass_fields__ if k != "result"}  # not mr_json
    return Job(**fields, result=json.loads(row["result"]) if row["result"] else None)


def _marks(n: int) -> str:
    """`(?, ?, ...)` for an IN clause: only placeholders ever go into the SQL text."""
    return "(" + ", ".join("?" * n) + ")"


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery to record; with mr_number, head_sha and trigger it asks for a review."""

    delivery_key: str
    repo_id: int
    event: str
    mr_number: int | None = None
    head_sha: str | None = None
    trigger: str | None = None
    request_id: str | None = None
    message: JobMessage | None = None  # the comment the job answers

    @property
    def wants_review(self) -> bool:
        return self.mr_number is not None and self.head_sha is not None and bool(self.trigger)


@dataclass(frozen=True)
class Intake:
    """What recording a delivery did."""

    job_id: int | None
    duplicate: bool
    superseded: tuple[int, ...] = ()
    created: bool = False  # False when it joined a job already queued for the same head


def record_deliveries(db: sqlite_utils.Database, deliveries: Sequence[Delivery]) -> list[Intake]:
    """Record webhook deliveries and the jobs they trigger, all in ONE transaction.

    One transaction is one fsync however many deliveries it holds: the intake's group commit
    hands over every delivery waiting at that moment. Per delivery: a replay (same key) changes
    nothing and returns the job it created the first time; a new head commit supersedes the MR's
    queued and running jobs for older heads; a second request for a head that already has a
    queued job joins that job instead of adding one.
    """
    conn = db.conn
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        return [_record(conn, d, now()) for d in deliveries]


def _record(conn: sqlite3.Connection, d: Delivery, t: float) -> Intake:
    existing = conn.execute(
        "SELECT job_id FROM deliveries WHERE key = ?", [d.delivery_key]
    ).fetchone()
    if existing is not None:
        return Intake(job_id=existing[0], duplicate=True)
    job_id: int | None = None
    superseded: list[int] = []
    outcome = "ignored"
    if d.wants_review:
        # A new head makes older heads' reviews pointless. A request without a head (a Gitea
        # comment command) supersedes nothing: the worker resolves the current head.
        if d.head_sha:
            superseded = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM jobs WHERE repo_id = ? AND mr_number = ? AND head_sha != ?"
                    " AND head_sha != '' AND state IN ('queued', 'running')",
                    [d.repo_id, d.mr_number, d.head_sha],
                ).fetchall()
            ]
        if superseded:
            conn.execute(
                "UPDATE jobs SET state = 'superseded', lease_owner = NULL, updated_at = ?,"  # noqa: S608
                " finished_at = ?, last_error = ? WHERE id IN " + _marks(len(superseded)),
                [t, t, f"superseded by a newer commit ({(d.head_sha or '')[:12]})", *superseded],
            )
        queued = conn.execute(
            "SELECT id FROM jobs WHERE repo_id = ? AND mr_number = ? AND head_sha = ?"
            " AND state = 'queued' ORDER BY id LIMIT 1",
            [d.repo_id, d.mr_number, d.head_sha],
        ).fetchone()
        # A comment joins a review already queued for its head only when it asks for just
        # that review (`/revisor review`); anything else it asks is answered by its own job.
        if queued is not None and (d.message is None or d.trigger == "command"):
            job_id, outcome = queued[0], "joined"
        else:
            cursor = conn.execute(
                "INSERT INTO jobs (repo_id, mr_number, head_sha, trigger, state,"
                " enqueued_at, request_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
                [d.repo_id, d.mr_number, d.head_sha, d.trigger, t, d.request_id, t, t],
            )
            job_id, outcome = cursor.lastrowid, "queued"
            if d.message is not None and job_id is not None:
                save_message(conn, job_id, d.message)
    conn.execute(
        "INSERT INTO deliveries (key, repo_id, event, outcome, job_id, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [d.delivery_key, d.repo_id, d.event, outcome, job_id, t],
    )
    return Intake(
        job_id=job_id, duplicate=False, superseded=tuple(superseded), created=outcome == "queued"
    )


def create(
    db: sqlite_utils.Database, *, repo_id: int, mr_number: int, head_sha: str, trigger: str
) -> int:
    """Queue a job directly (CLI, dashboard), without a delivery."""
    t = now()
    with db.conn:
        cursor = db.conn.execute(
            "INSERT INTO jobs (repo_id, mr_number, head_sha, trigger, state, enqueued_at,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
            [repo_id, mr_number, head_sha, trigger, t, t, t],
        )
    if cursor.lastrowid is None:
        raise RuntimeError("SQLite did not return the new job's id")
    return cursor.lastrowid


def get(db: sqlite_utils.Database, job_id: int) -> Job | None:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return _from_row(rows[0]) if rows else None


def list_jobs(
    db: sqlite_utils.Database,
    *,
    state: str | None = None,
    repo_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Job]:
    where: list[str] = []
    params: list[Any] = []
    if state:
        where.append("state = ?")
        params.append(state)
    if repo_id is not None:
        where.append("repo_id = ?")
        params.append(repo_id)
    sql = "SELECT * FROM jobs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
    return [_from_row(r) for r in db.query(sql, [*params, limit, offset])]


def counts_by_state(db: sqlite_utils.Database, since: float | None = None) -> dict[str, int]:
    sql = "SELECT state, count(*) FROM jobs"
    params: list[Any] = []
    if since is not None:
        sql += " WHERE created_at >= ?"
        params.append(since)
    sql += " GROUP BY state"
    counts = dict.fromkeys(STATES, 0)
    counts.update({row[0]: row[1] for row in db.execute(sql, params).fetchall()})
    return counts


def lease(db: sqlite_utils.Database, job_id: int, owner: str, lease_seconds: float) -> Job | None:
    """Take a queued job whose time has come. None if another worker has it, it is not due, or
    another job of the same merge request is running (see `defer_if_busy`).

    One review per merge request at a time: two reviews of one MR running together could both
    find a finding "not yet posted" and both post it.
    """
    t = now()
    with db.conn:
        cursor = db.conn.execute(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires = ?,"
            " attempts = attempts + 1, updated_at = ?, started_at = coalesce(started_at, ?)"
            " WHERE id = ? AND state = 'queued' AND not_before <= ?"
            " AND NOT EXISTS (SELECT 1 FROM jobs AS other WHERE other.repo_id = jobs.repo_id"
            " AND other.mr_number = jobs.mr_number AND other.state = 'running')",
            [owner, t + lease_seconds, t, t, job_id, t],
        )
    return get(db, job_id) if cursor.rowcount == 1 else None


def defer_if_busy(db: sqlite_utils.Database, job_id: int, delay_seconds: float) -> bool:
    """A queued job whose merge request is being reviewed right now waits `delay_seconds`
    (the reaper enqueues it then). True if it was deferred."""
    t = now()
    return _owned(
        db,
        "UPDATE jobs SET not_before = ?, enqueued_at = NULL, updated_at = ?"
        " WHERE id = ? AND state = 'queued' AND EXISTS (SELECT 1 FROM jobs AS other"
        " WHERE other.repo_id = jobs.repo_id AND other.mr_number = jobs.mr_number"
        " AND other.state = 'running')",
        [t + delay_seconds, t, job_id],
    )


BeforeCommit = Callable[[bool], None]


def _owned(
    db: sqlite_utils.Database,
    sql: str,
    params: list[Any],
    before_commit: BeforeCommit | None = None,
) -> bool:
    """Run one conditional UPDATE; `before_commit(changed)` (the audit record) runs inside the
    transaction: if it raises, the change is rolled back."""
    with db.conn:
        cursor = db.conn.execute(sql, params)
        if before_commit is not None:
            before_commit(cursor.rowcount == 1)
    return cursor.rowcount == 1


def heartbeat(
    db: sqlite_utils.Database,
    job_id: int,
    owner: str,
    lease_seconds: float,
    stage: str | None = None,
) -> bool:
    """Renew the lease (and record the stage). False: the job is no longer ours — stop working."""
    t = now()
    return _owned(
        db,
        "UPDATE jobs SET lease_expires = ?, stage = coalesce(?, stage), updated_at = ?"
        " WHERE id = ? AND state = 'running' AND lease_owner = ?",
        [t + lease_seconds, stage, t, job_id, owner],
    )


def finish(
    db: sqlite_utils.Database,
    job_id: int,
    owner: str,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    if state not in {"done", "failed", "skipped", "superseded"}:
        raise ValueError(f"a worker cannot finish a job as {state!r}")
    t = now()
    return _owned(
        db,
        "UPDATE jobs SET state = ?, result = ?, last_error = ?, lease_owner = NULL,"
        " lease_expires = NULL, updated_at = ?, finished_at = ?"
        " WHERE id = ? AND state = 'running' AND lease_owner = ?",
        [state, json.dumps(result) if result is not None else None, error, t, t, job_id, owner],
    )


def retry_later(
    db: sqlite_utils.Database, job_id: int, owner: str, *, error: str, delay_seconds: float
) -> bool:
    """Give the job back to the queue, due after `delay_seconds`; the reaper enqueues it then."""
    t = now()
    return _owned(
        db,
        "UPDATE jobs SET state = 'queued', last_error = ?, not_before = ?, enqueued_at = NULL,"
        " lease_owner = NULL, lease_expires = NULL, updated_at = ?"
        " WHERE id = ? AND state = 'running' AND lease_owner = ?",
        [error, t + delay_seconds, t, job_id, owner],
    )


def requeue(
    db: sqlite_utils.Database, job_id: int, before_commit: BeforeCommit | None = None
) -> bool:
    """Send a failed or cancelled job (the dead letter) around again, with a fresh attempt count."""
    t = now()
    return _owned(
        db,
        "UPDATE jobs SET state = 'queued', attempts = 0, not_before = 0, enqueued_at = ?,"
        " finished_at = NULL, last_error = NULL, stage = NULL, updated_at = ?"
        " WHERE id = ? AND state IN ('failed', 'cancelled')",
        [t, t, job_id],
        before_commit,
    )


def cancel(
    db: sqlite_utils.Database, job_id: int, before_commit: BeforeCommit | None = None
) -> bool:
    t = now()
    return _owned(
        db,
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires = NULL,"
        " updated_at = ?, finished_at = ? WHERE id = ? AND state IN ('queued', 'running')",
        [t, t, job_id],
        before_commit,
    )


def reap(db: sqlite_utils.Database, *, stale_after: float) -> list[int]:
    """Find work that Huey no longer holds and return the ids to (re-)enqueue.

    - running jobs whose lease expired (the worker died): back to queued;
    - queued jobs that are due but were never enqueued (retry delay over) or were enqueued long
      ago without being picked up (the enqueue was lost).
    Enqueueing a job twice is harmless: only one worker can lease it.
    """
    t = now()
    with db.conn:
        db.conn.execute("BEGIN IMMEDIATE")
        db.conn.execute(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires = NULL,"
            " enqueued_at = NULL, last_error = coalesce(last_error, 'worker lost its lease'),"
            " updated_at = ? WHERE state = 'running' AND lease_expires < ?",
            [t, t],
        )
        due = [
            row[0]
            for row in db.conn.execute(
                "SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ?"
                " AND (enqueued_at IS NULL OR enqueued_at < ?) ORDER BY id",
                [t, t - stale_after],
            ).fetchall()
        ]
        if due:
            sql = "UPDATE jobs SET enqueued_at = ? WHERE id IN " + _marks(len(due))  # noqa: S608
            db.conn.execute(sql, [t, *due])
    return due
