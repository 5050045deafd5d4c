"""A job's attempts and the merge request it is about, as the dashboard shows them.

The job row holds only its latest state; each attempt (lease to outcome) gets a row here, so
"failed twice, then succeeded" stays visible after the job's own `last_error` was replaced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from revisor.store.db import now

MR_FIELDS = ("title", "author", "source_branch", "target_branch")


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: float
    finished_at: float | None
    outcome: str | None  # None while it runs
    error: str | None
    next_retry_at: float | None


def start(db: sqlite_utils.Database, job_id: int, attempt: int) -> None:
    """A new attempt; one still open from before ended without a word (its worker died and
    the reaper queued the job again): it is closed as "lost"."""
    t = now()
    with db.conn:
        db.execute(
            "UPDATE job_attempts SET finished_at = ?, outcome = 'lost',"
            " error = 'the worker stopped without recording an outcome'"
            " WHERE job_id = ? AND finished_at IS NULL",
            [t, job_id],
        )
        db.execute(
            "INSERT INTO job_attempts (job_id, attempt, started_at) VALUES (?, ?, ?)",
            [job_id, attempt, t],
        )


def end(
    db: sqlite_utils.Database,
    job_id: int,
    attempt: int,
    outcome: str,
    *,
    error: str | None = None,
    next_retry_at: float | None = None,
) -> None:
    """Close the attempt's row (the newest one with that number that is still open)."""
    with db.conn:
        db.execute(
            "UPDATE job_attempts SET finished_at = ?, outcome = ?, error = ?, next_retry_at = ?"
            " WHERE id = (SELECT max(id) FROM job_attempts WHERE job_id = ? AND attempt = ?"
            " AND finished_at IS NULL)",
            [now(), outcome, error, next_retry_at, job_id, attempt],
        )


def for_job(db: sqlite_utils.Database, job_id: int) -> list[Attempt]:
    return [
        Attempt(
            r["attempt"],
            r["started_at"],
            r["finished_at"],
            r["outcome"],
            r["error"],
            r["next_retry_at"],
        )
        for r in db.query("SELECT * FROM job_attempts WHERE job_id = ? ORDER BY id", [job_id])
    ]


def failed_since(db: sqlite_utils.Database, since: float) -> int:
    """Attempts that ended in an error since `since` (a retry counts, not only a give-up)."""
    row = db.execute(
        "SELECT count(*) FROM job_attempts WHERE finished_at >= ? AND outcome IN"
        " ('retry', 'failed')",
        [since],
    ).fetchone()
    return int(row[0])


def set_mr(db: sqlite_utils.Database, job_id: int, info: dict[str, str]) -> None:
    """Keep the merge request's title, author and branches for the job page."""
    kept = {k: str(info.get(k) or "")[:300] for k in MR_FIELDS}
    with db.conn:
        db.execute("UPDATE jobs SET mr_json = ? WHERE id = ?", [json.dumps(kept), job_id])


def mr_of(db: sqlite_utils.Database, job_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not job_ids:
        return {}
    marks = ", ".join("?" * len(job_ids))
    return {
        r["id"]: json.loads(r["mr_json"])
        for r in db.query(
            f"SELECT id, mr_json FROM jobs WHERE mr_json IS NOT NULL AND id IN ({marks})",  # noqa: S608
            job_ids,
        )
    }
