"""Review transcripts: what the model was sent (after redaction) and what it answered, the
findings parsed from it and what was posted, per job.

They hold code, so each entry is sealed like a stored secret (AES-GCM, `revisor.secrets`, the
associated data bound to the entry's own random key) and kept only as long as its repository
says (`repos.transcript_days`, 30 by default, 0: none are written). `purge` deletes what has
expired; the worker runs it on a timer (`worker/housekeeping.py`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import sqlite_utils

from revisor.secrets import KeyRing, aad_for
from revisor.store.db import now

Kind = Literal["exchange", "outcome"]
DAY = 86400.0
MAX_DAYS = 3650
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Entry:
    kind: Kind
    created_at: float
    expires_at: float
    data: dict[str, Any]


def _aad(entry_key: str) -> bytes:
    return aad_for("transcripts", entry_key, "body")


def check_days(value: int) -> int:
    """A retention in days, 0 (keep none) to MAX_DAYS; ValueError otherwise."""
    if not 0 <= value <= MAX_DAYS:
        raise ValueError(f"transcripts are kept 0 to {MAX_DAYS} days (0: not kept)")
    return value


def days_for(db: sqlite_utils.Database, repo_id: int) -> int:
    row = db.execute("SELECT transcript_days FROM repos WHERE id = ?", [repo_id]).fetchone()
    return int(row[0]) if row else 0


def set_days(db: sqlite_utils.Database, repo_id: int, days: int) -> None:
    with db.conn:
        db.execute("UPDATE repos SET transcript_days = ? WHERE id = ?", [check_days(days), repo_id])


def record(
    db: sqlite_utils.Database,
    keys: KeyRing,
    *,
    job_id: int,
    kind: Kind,
    data: dict[str, Any],
    keep_days: int,
    t: float | None = None,
) -> None:
    """Seal and store one entry, to be purged `keep_days` days from `t`."""
    t = now() if t is None else t
    entry_key = secrets.token_urlsafe(16)
    body = keys.seal(json.dumps(data, sort_keys=True), _aad(entry_key))
    with db.conn:
        db.execute(
            "INSERT INTO transcripts (job_id, entry_key, kind, created_at, expires_at, body_enc)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [job_id, entry_key, kind, t, t + keep_days * DAY, body],
        )


def count_for_job(db: sqlite_utils.Database, job_id: int) -> int:
    row = db.execute("SELECT count(*) FROM transcripts WHERE job_id = ?", [job_id]).fetchone()
    return int(row[0])


def for_job(db: sqlite_utils.Database, keys: KeyRing, job_id: int) -> list[Entry]:
    """A job's entries in the order they were written, opened."""
    rows = db.execute(
        "SELECT entry_key, kind, created_at, expires_at, body_enc FROM transcripts"
        " WHERE job_id = ? ORDER BY id",
        [job_id],
    ).fetchall()
    return [
        Entry(kind, created, expires, json.loads(keys.open_str(body, _aad(entry_key))))
        for entry_key, kind, created, expires, body in rows
    ]


def purge(db: sqlite_utils.Database, t: float | None = None) -> int:
    """Delete every entry whose time is up; returns how many."""
    t = now() if t is None else t
    with db.conn:
        cursor = db.execute("DELETE FROM transcripts WHERE expires_at <= ?", [t])
    return int(cursor.rowcount)
