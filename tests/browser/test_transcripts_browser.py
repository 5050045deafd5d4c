"""Review transcripts in headless chromium: a maintainer opens a job, follows the link to its
transcript and sees the redacted prompt, the raw answer, the findings and what was posted, with
links to the merge request built from the registered server; the read is audited. A viewer sees
no link, and the transcript URL refuses them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from revisor.audit import AuditLog
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import jobs, repos, transcripts
from revisor.store.db import open_database
from tests.browser.cdp import Browser, chromium_available
from tests.browser.serving import open_browser, serve, sign_in, text
from tests.web.webapp import init_settings

pytestmark = pytest.mark.browser

HOSTILE = "</pre><script>window.pwned = 1</script>"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    b = open_browser(tmp_path)
    yield b
    b.close()


def _seed(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings, _ = init_settings(tmp_path)
    db = open_database(settings.db_path)
    keys = KeyRing.load(settings.keys_dir)
    repo = repos.add(
        db,
        keys,
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="platform/payments",
        token="tok",
        webhook_secret="whsec-0123456789",
    )
    job_id = jobs.create(db, repo_id=repo.id, mr_number=42, head_sha="d" * 40, trigger="open")
    common = {"job_id": job_id, "keep_days": 30}
    transcripts.record(
        db,
        keys,
        kind="exchange",
        data={
            "messages": [
                {"role": "system", "content": "You review code."},
                {"role": "user", "content": f'KEY = "[REDACTED aws]"\n{HOSTILE}\ncharge(x)'},
            ],
            "endpoint": "gpu-1",
            "model": "qwen-coder",
            "answer": '{"findings": [{"title": "Rounding before conversion"}]}',
            "finish_reason": "stop",
            "prompt_tokens": 900,
            "completion_tokens": 40,
        },
        **common,  # type: ignore[arg-type]
    )
    transcripts.record(
        db,
        keys,
        kind="outcome",
        data={
            "findings": [
                {
                    "severity": "major",
                    "path": "billing/charge.py",
                    "line": 88,
                    "title": "Rounding before conversion",
                }
            ],
            "posted": [
                {
                    "path": "billing/charge.py",
                    "new_line": 88,
                    "old_line": None,
                    "fingerprint": "f1",
                    "body": "**major** Rounding before conversion",
                }
            ],
            "rejected": [],
            "already_posted": 0,
            "summary": {"action": "created", "body": "Revisor review: 1 finding"},
        },
        **common,  # type: ignore[arg-type]
    )
    db.conn.close()
    return settings, job_id


def test_a_maintainer_reads_the_transcript_and_the_read_is_audited(
    tmp_path: Path, browser: Browser
) -> None:
    settings, job_id = _seed(tmp_path)
    with serve(settings) as base:
        sign_in(browser, base, settings, "maintainer")
        browser.goto(f"{base}/jobs/{job_id}")
        browser.evaluate("document.querySelector('#transcript a').click(); true")
        browser.wait_for(f"location.pathname === '/jobs/{job_id}/transcript'")
        browser.wait_for("document.readyState === 'complete'")
        page = text(browser)
        assert "[REDACTED aws]" in page
        assert "charge(x)" in page
        assert HOSTILE in page  # shown as text ...
        assert browser.evaluate("window.pwned === undefined")  # ... never run
        assert "Rounding before conversion" in page
        assert "gpu-1" in page
        assert "Revisor review: 1 finding" in page
        assert browser.evaluate("document.getElementById('mr-link').href") == (
            "https://gitlab.test/platform/payments/-/merge_requests/42"
        )
        browser.screenshot(tmp_path / "transcript.png")
    audit = AuditLog.from_settings(settings)
    try:
        reads = [r for r in audit.records() if r["event"] == "transcript.read"]
    finally:
        audit.close()
    assert [(r["actor"], r["target"], r["details"]["entries"]) for r in reads] == [
        ("user:ldap:maintainer-user", f"job:{job_id}", 2)
    ]


def test_a_viewer_sees_no_transcript_and_cannot_open_it(tmp_path: Path, browser: Browser) -> None:
    settings, job_id = _seed(tmp_path)
    with serve(settings) as base:
        sign_in(browser, base, settings, "viewer")
        browser.goto(f"{base}/jobs/{job_id}")
        assert browser.evaluate("document.getElementById('transcript') === null")
        browser.goto(f"{base}/jobs/{job_id}/transcript")
        page = text(browser)
        assert "charge(x)" not in page
        assert "Rounding before conversion" not in page
    audit = AuditLog.from_settings(settings)
    try:
        assert not [r for r in audit.records() if r["event"] == "transcript.read"]
    finally:
        audit.close()
