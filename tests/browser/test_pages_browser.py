"""Every dashboard page in chromium, as an admin, at 1280 and 800 px: the vendored axe-core
finds no serious or critical violation, nothing scrolls sideways at 800 px, times are in the
viewer's time zone with UTC on hover, the jobs table sorts and pages. Screenshots of each page
go to $REVISOR_SCREENSHOTS when it is set (for a person to look at)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Event
from revisor.domain import ForgeKind, UsageRecord
from revisor.secrets import KeyRing
from revisor.store import attempts, jobs, repos, servers, usage
from revisor.store.db import open_database
from tests.browser.live import (
    axe_violations,
    chromium,
    full_screenshot,
    open_page,
    overflows,
    resize,
    serve,
    sign_in_as,
)
from tests.web.webapp import init_settings

pytestmark = pytest.mark.browser


def _world(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings, _ = init_settings(tmp_path)
    db = open_database(settings.db_path)
    servers.allow(db, "https://gitlab.test", added_by="test")
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="platform/payments",
        token="tok",
        webhook_secret="whsec-0123456789",
    )
    ids = []
    for n, (state, error) in enumerate(
        [
            ("done", None),
            ("failed", "GitLab refused the token (401): check the repository's token"),
            ("retrying", "model endpoint gpu-box timed out after 120 s"),
            ("running", None),
            ("cancelled", None),
            ("queued", None),
        ]
    ):
        job_id = jobs.create(
            db, repo_id=repo.id, mr_number=10 + n, head_sha=f"{n}" * 40, trigger="open"
        )
        ids.append(job_id)
        attempts.set_mr(
            db,
            job_id,
            {
                "title": f"Fix rounding in charge #{n}",
                "author": "alice",
                "source_branch": f"fix/{n}",
                "target_branch": "main",
            },
        )
        if state == "queued":
            continue
        if state == "cancelled":
            jobs.cancel(db, job_id)
            continue
        assert jobs.lease(db, job_id, "w", 600)
        attempts.start(db, job_id, 1)
        if state == "running":
            jobs.heartbeat(db, job_id, "w", 600, "review 2/5")
        elif state == "retrying":
            jobs.retry_later(db, job_id, "w", error=error or "", delay_seconds=300)
            attempts.end(db, job_id, 1, "retry", error=error, next_retry_at=time.time() + 300)
        elif state == "failed":
            attempts.end(db, job_id, 1, "failed", error=error)
            jobs.finish(db, job_id, "w", "failed", error=error)
        else:
            attempts.end(db, job_id, 1, "done")
            jobs.finish(
                db,
                job_id,
                "w",
                "done",
                result={
                    "findings": [
                        {
                            "severity": "major",
                            "path": "billing/charge.py",
                            "line": 88,
                            "title": "Amount rounded before currency conversion",
                            "body": "Convert first.",
                        }
                    ],
                    "model": "qwen2.5-coder-1.5b",
                    "prompt_version": "review-v3",
                },
            )
    with db.conn:
        for name in ("ldap:zoe", "ldap:bob"):
            db.execute(
                "INSERT INTO users (username, source, display_name, roles, created_at,"
                " last_login_at) VALUES (?, 'ldap', ?, 'viewer', ?, ?)",
                [name, name, time.time(), time.time()],
            )
    for i in range(6):
        usage.record(db, ids[0], repo.id, UsageRecord("qwen", "local", 900, 120, 4000, ok=i != 5))
    db.conn.close()
    log = AuditLog(settings.audit_path)
    log.record(Event.JOB_RETRIED, actor="user:ldap:maria", target=f"job:{ids[1]}")
    log.record(
        Event.MODEL_REQUEST, actor="system:worker", target="model:qwen", job_id=ids[0], redactions=1
    )
    log.close()
    return settings, repo, ids


def test_every_page_is_accessible_fits_800_px_and_shows_local_times(tmp_path: Path) -> None:
    settings, repo, ids = _world(tmp_path)
    shots = Path(os.environ.get("REVISOR_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    pages = {
        "overview": "/",
        "jobs": "/jobs",
        "job-done": f"/jobs/{ids[0]}",
        "job-failed": f"/jobs/{ids[1]}",
        "job-retrying": f"/jobs/{ids[2]}",
        "repos": "/repos",
        "repo": f"/repos/{repo.id}",
        "servers": "/servers",
        "server": "/servers/1",
        "models": "/models",
        "audit": "/audit",
        "settings": "/settings",
        "tokens": "/settings/tokens",
        "feedback": "/feedback",
        "transcript": f"/jobs/{ids[0]}/transcript",
        "api-docs": "/api/docs",
        "not-found": "/jobs/999999",
    }

    def probe() -> dict[str, object]:
        return {"ok": True, "endpoint": "local", "detail": "HTTP 200"}

    with serve(settings, model_health=probe) as live, chromium(tmp_path) as b:
        b.call("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
        open_page(b, f"{live.base}/login")
        assert axe_violations(b) == []
        b.screenshot(shots / "login.png")
        sign_in_as(b, live, "admin")
        problems: dict[str, object] = {}
        for name, path in pages.items():
            for width in (1280, 800):
                resize(b, width)
                open_page(b, live.base + path)
                b.wait_for("document.querySelector('main') !== null")
                found = axe_violations(b)
                if found:
                    problems[f"{name}@{width}"] = found
                if width == 800 and overflows(b):
                    problems[f"{name}@800 overflow"] = b.evaluate(
                        "[...document.querySelectorAll('main *')].filter(e => e.scrollWidth >"
                        " document.documentElement.clientWidth).slice(0, 3).map(e => e.tagName"
                        " + '.' + e.className)"
                    )
                full_screenshot(b, shots / f"{name}-{width}.png")
        assert not problems, problems

        resize(b, 1280)
        open_page(b, f"{live.base}/jobs/{ids[0]}")
        shown, title = b.evaluate(
            "[document.querySelector('#job-live time').innerText,"
            " document.querySelector('#job-live time').title]"
        )
        assert title.endswith("UTC")
        assert shown != title  # the viewer's zone, not UTC
        assert "GMT+9" in shown or "JST" in shown

        open_page(b, f"{live.base}/settings")
        users = "[...document.querySelectorAll('#users tbody tr')].map(r => r.cells[0].innerText)"
        b.evaluate("document.querySelector('#users th button.sort').click(); true")
        assert b.evaluate(users) == ["admin", "ldap:bob", "ldap:zoe"]
        b.evaluate("document.querySelector('#users th button.sort').click(); true")
        assert b.evaluate(users) == ["ldap:zoe", "ldap:bob", "admin"]
        assert b.evaluate("document.querySelector('#users th').getAttribute('aria-sort')") == (
            "descending"
        )

        open_page(b, f"{live.base}/jobs")
        b.evaluate("document.querySelector('th a.sort[href*=\"sort=state\"]').click(); true")
        b.wait_for(  # the sorted page, loaded (the address changes before it arrives)
            "document.readyState === 'complete'"
            " && document.querySelector('th[aria-sort=descending] a[href*=\"=state\"]')"
            " !== null"
        )
        states = b.evaluate(
            "[...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.state)"
        )
        assert states == sorted(states, reverse=True)
        assert b.evaluate(
            "document.querySelector('th[aria-sort=descending]').innerText"
        ).startswith("State")
