"""Migration 007: what Revisor remembers of a merge request's conversation.

- `job_messages`: the comment a job answers (a command, a reply, a mention), written in the
  same transaction as the job, so a crash between webhook and worker loses nothing;
- `answers`: one row per message Revisor answered (rate limits per merge request and per user,
  and who asked, which model, how many tokens);
- `reviewed_heads`: the last head commit reviewed per merge request (incremental review);
- `posted_findings`: each finding posted, with its model and what became of it (open, accepted
  when its thread was resolved by a fix, rejected when ignored or thumbed down): the acceptance
  rate per repository and model;
- `suppressions`: findings a person asked Revisor to stop raising in a repository.
"""

from __future__ import annotations

import sqlite_utils


def m007_conversations(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE job_messages (
            job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
            note_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            author TEXT NOT NULL,
            author_id TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
            mr_number INTEGER NOT NULL,
            note_id TEXT NOT NULL,
            author TEXT NOT NULL,
            job_id INTEGER,
            kind TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (repo_id, mr_number, note_id)
        );
        CREATE INDEX answers_by_mr ON answers (repo_id, mr_number, created_at);
        CREATE INDEX answers_by_author ON answers (repo_id, author, created_at);
        CREATE TABLE reviewed_heads (
            repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
            mr_number INTEGER NOT NULL,
            head_sha TEXT NOT NULL,
            job_id INTEGER,
            updated_at REAL NOT NULL,
            PRIMARY KEY (repo_id, mr_number)
        );
        CREATE TABLE posted_findings (
            repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
            mr_number INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            similarity_key TEXT NOT NULL,
            title TEXT NOT NULL,
            path TEXT NOT NULL,
            line_key TEXT NOT NULL,
            model TEXT NOT NULL,
            job_id INTEGER,
            verdict TEXT NOT NULL DEFAULT 'open'
                CHECK (verdict IN ('open', 'accepted', 'rejected')),
            created_at REAL NOT NULL,
            decided_at REAL,
            PRIMARY KEY (repo_id, mr_number, fingerprint)
        );
        CREATE TABLE suppressions (
            id INTEGER PRIMARY KEY,
            repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
            fingerprint TEXT NOT NULL,
            similarity_key TEXT NOT NULL,
            title TEXT NOT NULL,
            path TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL CHECK (source IN ('command', 'award')),
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (repo_id, fingerprint)
        );
        CREATE INDEX suppressions_by_key ON suppressions (repo_id, similarity_key);
        """
    )
