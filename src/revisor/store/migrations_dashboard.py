"""Migration 007: what the dashboard shows about a job's life and who may call the API.

- `job_attempts`: one row per attempt of a job (when it started and ended, how, its error,
  when the next attempt is due), so a retried job keeps the history its own row overwrites;
- `jobs.mr_json`: the merge request's title, author and branches as the worker last fetched
  them (shown as text, never used to build a link);
- `api_tokens`: tokens for scripts and monitoring, stored as sha256 digests only.
"""

from __future__ import annotations

import sqlite_utils


def m007_dashboard(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE job_attempts (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            outcome TEXT,
            error TEXT,
            next_retry_at REAL
        );
        CREATE INDEX job_attempts_job ON job_attempts (job_id, attempt);
        ALTER TABLE jobs ADD COLUMN mr_json TEXT;
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            token_sha256 TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            roles TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            revoked_at REAL,
            revoked_by TEXT,
            last_used_at REAL
        );
        """
    )
