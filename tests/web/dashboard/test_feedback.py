"""The feedback page: suppressions searchable and removable (maintainers and admins, audited),
the acceptance rate per repository and model; the same numbers in /metrics."""

from __future__ import annotations

import html
from pathlib import Path

from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.store import repos, servers, suppressions
from tests.web.webapp import client_as, make_app, settings_for


def seeded(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path)
    rt = Context(settings)
    servers.allow(rt.db, "https://gitlab.test", added_by="test")
    repo = repos.add(rt.db, rt.keys, forge=ForgeKind.GITLAB, server="https://gitlab.test",
                     project="group/app", token="glpat-feedback-token-0123",
                     webhook_secret="webhook-secret-feedback-0123")  # fmt: skip
    a = suppressions.Posted("a" * 16, "k" * 16, "Shell injection", "app.py", "l" * 16, "m1")
    b = suppressions.Posted("b" * 16, "j" * 16, "Unclosed <b>file</b>", "io.py", "l" * 16, "m1")
    c = suppressions.Posted("c" * 16, "i" * 16, "Off by one", "loop.py", "l" * 16, "m1")
    suppressions.record_posted(rt.db, repo.id, 7, [a, b, c], job_id=None)
    suppressions.set_verdict(rt.db, repo.id, 7, "a" * 16, "accepted")
    suppressions.set_verdict(rt.db, repo.id, 7, "b" * 16, "rejected")
    suppressions.add(rt.db, repo.id, b, reason="we close it later", source="award",
                     created_by="alice")  # fmt: skip
    rt.close()
    return settings, make_app(settings)


def test_viewers_see_the_rate_and_the_suppressions(tmp_path: Path) -> None:
    settings, app = seeded(tmp_path)
    client, _ = client_as(app, settings, "viewer")
    with client:
        page = client.get("/feedback")
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "group/app" in text
        assert "50%" in text  # 1 accepted, 1 rejected, 1 open
        assert "Unclosed <b>file</b>" in text  # shown as text, escaped in the HTML
        assert "<b>file</b>" not in page.text
        assert "Remove</button>" not in page.text  # viewers cannot remove
        assert "Unclosed" not in html.unescape(client.get("/feedback?q=shell").text)


def test_a_maintainer_removes_a_suppression_and_it_is_audited(tmp_path: Path) -> None:
    settings, app = seeded(tmp_path)
    (row,) = suppressions.list_all(Context(settings).db)
    client, csrf = client_as(app, settings, "maintainer")
    with client:
        assert client.post(f"/feedback/suppressions/{row.id}/remove").status_code == 403
        ok = client.post(f"/feedback/suppressions/{row.id}/remove", data={"_csrf": csrf})
        assert ok.status_code == 200
        assert "removed" in ok.text
        again = client.post(f"/feedback/suppressions/{row.id}/remove", data={"_csrf": csrf})
        assert again.status_code == 404
    rt = Context(settings)
    assert suppressions.list_all(rt.db) == []
    removed = [r for r in rt.audit.records() if r["event"] == "suppression.removed"]
    assert removed[-1]["actor"] == "user:ldap:maintainer-user"
    rt.close()


def test_metrics_show_verdicts_and_the_rate(tmp_path: Path) -> None:
    settings, app = seeded(tmp_path)
    client, _ = client_as(app, settings, "admin")
    with client:
        text = client.get("/metrics").text
    assert 'revisor_findings{model="m1",repo_id="1",verdict="accepted"} 1.0' in text
    assert 'revisor_findings{model="m1",repo_id="1",verdict="open"} 1.0' in text
    assert 'revisor_findings_acceptance_ratio{model="m1",repo_id="1"} 0.5' in text
