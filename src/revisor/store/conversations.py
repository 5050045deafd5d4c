"""What Revisor remembers of a merge request's conversation (tables of migration 007).

- the comment a job answers (`JobMessage`), saved with the job in the intake's transaction;
- the answers given (rate limits per merge request and per user; who asked, model, tokens);
- the last head reviewed per merge request (incremental review).

Suppressions and the findings' verdicts are in `store/suppressions.py`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import sqlite_utils

from revisor.store.db import now

HOUR = 3600.0


@dataclass(frozen=True)
class JobMessage:
    """The comment a job answers: its ids on the forge, who wrote it, and its text."""

    note_id: str
    thread_id: str
    author: str
    author_id: str
    body: str


def save_message(conn: sqlite3.Connection, job_id: int, message: JobMessage) -> None:
    """Inside the caller's transaction (the intake's group commit)."""
    conn.execute(
        "INSERT INTO job_messages (job_id, note_id, thread_id, author, author_id, body)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            job_id,
            message.note_id,
            message.thread_id,
            message.author,
            message.author_id,
            message.body,
        ],
    )


def message_for(db: sqlite_utils.Database, job_id: int) -> JobMessage | None:
    row = db.execute(
        "SELECT note_id, thread_id, author, author_id, body FROM job_messages WHERE job_id = ?",
        [job_id],
    ).fetchone()
    return JobMessage(*row) if row else None


@dataclass(frozen=True)
class Answer:
    repo_id: int
    mr_number: int
    note_id: str
    author: str
    job_id: int | None
    kind: str  # "ask", "reply", "mention", "help", "ignore"
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


def record_answer(db: sqlite_utils.Database, answer: Answer) -> bool:
    """Record one answered message; False when it was recorded before (a job run again)."""
    with db.conn:
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO answers (repo_id, mr_number, note_id, author, job_id, kind,"
            " model, prompt_tokens, completion_tokens, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                answer.repo_id,
                answer.mr_number,
                answer.note_id,
                answer.author,
                answer.job_id,
                answer.kind,
                answer.model,
                answer.prompt_tokens,
                answer.completion_tokens,
                now(),
            ],
        )
    return cursor.rowcount == 1


def answers_in_last_hour(
    db: sqlite_utils.Database, repo_id: int, *, mr_number: int | None = None, author: str = ""
) -> int:
    """Answers given in the last hour on one merge request, or to one author in a repository."""
    since = now() - HOUR
    if mr_number is not None:
        row = db.execute(
            "SELECT count(*) FROM answers WHERE repo_id = ? AND mr_number = ? AND created_at > ?",
            [repo_id, mr_number, since],
        ).fetchone()
    else:
        row = db.execute(
            "SELECT count(*) FROM answers WHERE repo_id = ? AND author = ? AND created_at > ?",
            [repo_id, author, since],
        ).fetchone()
    return int(row[0])


def reviewed_head(db: sqlite_utils.Database, repo_id: int, mr_number: int) -> str | None:
    row = db.execute(
        "SELECT head_sha FROM reviewed_heads WHERE repo_id = ? AND mr_number = ?",
        [repo_id, mr_number],
    ).fetchone()
    return str(row[0]) if row else None


def set_reviewed_head(
    db: sqlite_utils.Database, repo_id: int, mr_number: int, head_sha: str, job_id: int | None
) -> None:
    with db.conn:
        db.conn.execute(
            "INSERT INTO reviewed_heads (repo_id, mr_number, head_sha, job_id, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (repo_id, mr_number) DO UPDATE SET"
            " head_sha = excluded.head_sha, job_id = excluded.job_id,"
            " updated_at = excluded.updated_at",
            [repo_id, mr_number, head_sha, job_id, now()],
        )
