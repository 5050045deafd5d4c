"""A job's attempt history: each attempt closed with its outcome; one left open by a worker
that died is closed as "lost" when the next attempt starts; MR text is kept short."""

from __future__ import annotations

from pathlib import Path

from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import attempts, jobs, repos
from revisor.store.db import open_database
from tests.web.webapp import settings_for


def test_attempts_history_and_a_lost_attempt(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    db = open_database(settings.db_path)
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITEA,
        server="https://gitea.test",
        project="o/r",
        token="t",
        webhook_secret="whsec-1234567890",
    )
    job_id = jobs.create(db, repo_id=repo.id, mr_number=1, head_sha="b" * 40, trigger="open")
    attempts.start(db, job_id, 1)
    attempts.end(db, job_id, 1, "retry", error="model down", next_retry_at=99.0)
    attempts.start(db, job_id, 2)  # this worker dies: no end
    attempts.start(db, job_id, 3)
    attempts.end(db, job_id, 3, "done")
    history = attempts.for_job(db, job_id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "retry"), (2, "lost"), (3, "done")]
    assert history[0].next_retry_at == 99.0
    assert attempts.failed_since(db, 0) == 1

    attempts.set_mr(db, job_id, {"title": "x" * 1000, "author": "bob", "evil": "y"})
    kept = attempts.mr_of(db, [job_id])[job_id]
    assert len(kept["title"]) == 300
    assert set(kept) == set(attempts.MR_FIELDS)
    db.conn.close()
