"""Model usage per job: one row per HTTP attempt to a model endpoint (tokens, latency, ok).

The model client reports `UsageRecord`s through a callback; the worker binds that callback to the
job it runs and calls `record`. Rows never hold prompt text or code.
"""

from __future__ import annotations

import sqlite_utils

from revisor.domain import Usage, UsageRecord
from revisor.store.db import now


def record(
    db: sqlite_utils.Database, job_id: int | None, repo_id: int | None, rec: UsageRecord
) -> None:
    with db.conn:
        db.execute(
            "INSERT INTO usage (job_id, repo_id, model, endpoint, prompt_tokens, completion_tokens,"
            " latency_ms, ok, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                job_id,
                repo_id,
                rec.model,
                rec.endpoint,
                rec.prompt_tokens,
                rec.completion_tokens,
                rec.latency_ms,
                int(rec.ok),
                now(),
            ],
        )


def totals_for_job(db: sqlite_utils.Database, job_id: int) -> Usage:
    """Tokens and latency summed over the job's successful requests (`requests` counts them)."""
    row = db.execute(
        "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
        " COUNT(*), COALESCE(SUM(latency_ms), 0) FROM usage WHERE job_id = ? AND ok = 1",
        [job_id],
    ).fetchone()
    return Usage(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def failures_for_job(db: sqlite_utils.Database, job_id: int) -> int:
    row = db.execute("SELECT COUNT(*) FROM usage WHERE job_id = ? AND ok = 0", [job_id]).fetchone()
    return int(row[0])
