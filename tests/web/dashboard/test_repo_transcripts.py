"""A repository's review-transcript retention, set on its page: audited, checked, operators only."""

from __future__ import annotations

from pathlib import Path

from revisor.audit import AuditLog
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import repos, transcripts
from revisor.store.db import open_database
from tests.web.webapp import client_as, make_app, settings_for


def test_retention_is_set_per_repository_checked_and_audited(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    db = open_database(settings.db_path)
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="group/app",
        token="tok",
        webhook_secret="whsec-0123456789",
    )
    assert transcripts.days_for(db, repo.id) == transcripts.DEFAULT_DAYS  # on by default
    app = make_app(settings)
    viewer, vcsrf = client_as(app, settings, "viewer")
    with viewer:
        page = viewer.get(f"/repos/{repo.id}")
        assert 'name="transcript_days" inputmode="numeric" value="30" disabled' in page.text
        refused = viewer.post(
            f"/repos/{repo.id}/transcripts", data={"_csrf": vcsrf, "transcript_days": "0"}
        )
        assert refused.status_code == 403
    client, csrf = client_as(app, settings, "maintainer")
    with client:
        bad = client.post(
            f"/repos/{repo.id}/transcripts", data={"_csrf": csrf, "transcript_days": "-3"}
        )
        assert bad.status_code == 400
        assert "whole number" in bad.text
        ok = client.post(
            f"/repos/{repo.id}/transcripts", data={"_csrf": csrf, "transcript_days": "7"}
        )
        assert ok.status_code == 200
        assert "kept 7 days" in ok.text
    assert transcripts.days_for(db, repo.id) == 7
    db.conn.close()
    audit = AuditLog.from_settings(settings)
    try:
        changes = [r for r in audit.records() if r["event"] == "config.changed"]
    finally:
        audit.close()
    assert [(r["target"], r["details"]["transcript_days"]) for r in changes] == [
        (f"repo:{repo.id}", 7)
    ]
