"""Feedback that sticks: suppressed findings per repository, and what became of each finding
posted (open, accepted when its thread was resolved by a fix, rejected when ignored or
thumbed down), which gives the acceptance rate per repository and model.

Every change to a suppression takes a `before_commit` (the audit record, written inside the
change's transaction: no change without its record).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlite_utils

from revisor.store.db import now

BeforeCommit = Callable[[bool], None]
SOURCES = ("command", "award")


@dataclass(frozen=True)
class Suppression:
    id: int
    repo_id: int
    fingerprint: str
    similarity_key: str
    title: str
    path: str
    reason: str
    source: str
    created_by: str
    created_at: float


@dataclass(frozen=True)
class Posted:
    """One finding as posted on a merge request."""

    fingerprint: str
    similarity_key: str
    title: str
    path: str
    line_key: str = ""  # review.memory.line_key of the anchored line (not the code itself)
    model: str = ""


_COLUMNS = (
    "id, repo_id, fingerprint, similarity_key, title, path, reason, source, created_by, created_at"
)


def add(
    db: sqlite_utils.Database,
    repo_id: int,
    finding: Posted,
    *,
    reason: str,
    source: str,
    created_by: str,
    before_commit: BeforeCommit | None = None,
) -> bool:
    """Suppress a finding in a repository; False when it already was (nothing changes)."""
    if source not in SOURCES:
        raise ValueError(f"unknown suppression source {source!r}")
    with db.conn:
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO suppressions (repo_id, fingerprint, similarity_key, title,"
            " path, reason, source, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                repo_id,
                finding.fingerprint,
                finding.similarity_key,
                finding.title[:300],
                finding.path[:500],
                reason[:500],
                source,
                created_by[:255],
                now(),
            ],
        )
        if before_commit is not None:
            before_commit(cursor.rowcount == 1)
    return cursor.rowcount == 1


def get(db: sqlite_utils.Database, suppression_id: int) -> Suppression | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM suppressions WHERE id = ?",  # noqa: S608 (fixed column list)
        [suppression_id],
    ).fetchone()
    return Suppression(*row) if row else None


def remove(
    db: sqlite_utils.Database, suppression_id: int, before_commit: BeforeCommit | None = None
) -> Suppression | None:
    """Remove one suppression; the removed row, or None when there was none."""
    found = get(db, suppression_id)
    with db.conn:
        cursor = db.conn.execute("DELETE FROM suppressions WHERE id = ?", [suppression_id])
        if before_commit is not None:
            before_commit(cursor.rowcount == 1)
    return found if cursor.rowcount == 1 else None


def list_all(
    db: sqlite_utils.Database, *, repo_id: int | None = None, search: str = "", limit: int = 500
) -> list[Suppression]:
    """Newest first; `search` matches the title, path, reason or author (case-insensitive)."""
    where: list[str] = []
    params: list[int | str] = []
    if repo_id is not None:
        where.append("repo_id = ?")
        params.append(repo_id)
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            "(title LIKE ? ESCAPE '\\' OR path LIKE ? ESCAPE '\\' OR reason LIKE ? ESCAPE '\\'"
            " OR created_by LIKE ? ESCAPE '\\')"
        )
        params += [like] * 4
    sql = f"SELECT {_COLUMNS} FROM suppressions"  # noqa: S608 (fixed column list)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    return [Suppression(*row) for row in db.execute(sql, [*params, limit]).fetchall()]


def keys(db: sqlite_utils.Database, repo_id: int) -> tuple[set[str], set[str]]:
    """(fingerprints, similarity keys) suppressed in a repository."""
    rows = db.execute(
        "SELECT fingerprint, similarity_key FROM suppressions WHERE repo_id = ?", [repo_id]
    ).fetchall()
    return {r[0] for r in rows}, {r[1] for r in rows if r[1]}


# --- findings posted, and their verdicts ------------------------------------------------------


def record_posted(
    db: sqlite_utils.Database,
    repo_id: int,
    mr_number: int,
    findings: Sequence[Posted],
    *,
    job_id: int | None,
) -> None:
    t = now()
    with db.conn:
        db.conn.executemany(
            "INSERT OR IGNORE INTO posted_findings (repo_id, mr_number, fingerprint,"
            " similarity_key, title, path, line_key, model, job_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    repo_id,
                    mr_number,
                    f.fingerprint,
                    f.similarity_key,
                    f.title[:300],
                    f.path[:500],
                    f.line_key,
                    f.model[:200],
                    job_id,
                    t,
                )
                for f in findings
            ],
        )


def posted(
    db: sqlite_utils.Database, repo_id: int, mr_number: int, fingerprint: str
) -> Posted | None:
    row = db.execute(
        "SELECT fingerprint, similarity_key, title, path, line_key, model FROM posted_findings"
        " WHERE repo_id = ? AND mr_number = ? AND fingerprint = ?",
        [repo_id, mr_number, fingerprint],
    ).fetchone()
    return Posted(*row) if row else None


def set_verdict(
    db: sqlite_utils.Database, repo_id: int, mr_number: int, fingerprint: str, verdict: str
) -> bool:
    """Decide an open finding (accepted or rejected) once; False if it was decided already."""
    if verdict not in {"accepted", "rejected"}:
        raise ValueError(f"unknown verdict {verdict!r}")
    with db.conn:
        cursor = db.conn.execute(
            "UPDATE posted_findings SET verdict = ?, decided_at = ? WHERE repo_id = ?"
            " AND mr_number = ? AND fingerprint = ? AND verdict = 'open'",
            [verdict, now(), repo_id, mr_number, fingerprint],
        )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class Acceptance:
    repo_id: int
    model: str
    accepted: int
    rejected: int
    open: int

    @property
    def rate(self) -> float | None:
        """Accepted over decided; None when nothing was decided yet."""
        decided = self.accepted + self.rejected
        return self.accepted / decided if decided else None


def acceptance(db: sqlite_utils.Database) -> list[Acceptance]:
    rows = db.execute(
        "SELECT repo_id, model, sum(verdict = 'accepted'), sum(verdict = 'rejected'),"
        " sum(verdict = 'open') FROM posted_findings GROUP BY repo_id, model"
        " ORDER BY repo_id, model"
    ).fetchall()
    return [Acceptance(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]
