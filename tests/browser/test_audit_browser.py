"""The audit page in chromium: a date range, pages instead of a silent cap, related records
found by `job:N`, details a person can read, no sideways scroll at 1400 px, the signing key's
fingerprint, and the downloaded bundle verified by `revisor audit verify` as it is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Event
from revisor.cli import main
from tests.browser.live import chromium, open_page, overflows, resize, serve, sign_in_as, text
from tests.web.webapp import init_settings

pytestmark = pytest.mark.browser


def test_audit_browsing_and_the_downloaded_bundle(tmp_path: Path) -> None:
    settings, _ = init_settings(tmp_path)
    log = AuditLog(settings.audit_path)
    for i in range(120):
        log.record(Event.SIGNIN_SUCCEEDED, actor=f"user:ldap:u{i}", target="dashboard")
    log.record(Event.JOB_RETRIED, actor="user:ldap:maria", target="job:17")
    log.record(
        Event.MODEL_REQUEST,
        actor="system:worker",
        target="model:qwen",
        job_id=17,
        prompt_sha256="ab" * 32,
        redactions=2,
    )
    log.record(Event.MODEL_REQUEST, actor="system:worker", target="model:qwen", job_id=171)
    log.record(Event.CONFIG_CHANGED, actor="user:ldap:x", target="settings", note="y" * 400)
    log.close()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))

    with serve(settings) as live, chromium(tmp_path, width=1400) as b:
        sign_in_as(b, live, "auditor")
        open_page(b, f"{live.base}/audit")
        rows = "document.querySelectorAll('#audit-table tbody tr[data-seq]').length"
        assert b.evaluate(rows) == 50
        pager = b.evaluate("document.querySelector('.pager').innerText")
        assert "of 124" in pager  # nothing silently left out
        assert not overflows(b)
        assert "{" not in b.evaluate(  # details as names and values, not JSON
            "[...document.querySelectorAll('#audit-table tbody td:nth-child(8)')]"
            ".map(td => td.innerText).join(' ')"
        )
        b.evaluate("document.querySelector('.pager a[rel=next]').click(); true")
        b.wait_for(  # the new page, loaded (the address changes before it arrives)
            "document.readyState === 'complete' && document.querySelector('.pager') !== null"
            " && document.querySelector('.pager').innerText.includes('page 2 of')"
        )
        assert b.evaluate(rows) == 50

        open_page(b, f"{live.base}/audit?q=job:17")
        shown = text(b)
        assert "job.retried" in shown
        assert "model.request" in shown  # names job 17 only in its details
        assert b.evaluate(rows) == 2  # job 171 is another job
        assert b.evaluate("document.querySelector('a[href=\"/jobs/17\"]') !== null")

        open_page(b, f"{live.base}/audit?since={tomorrow}")
        assert b.evaluate(rows) == 0
        open_page(b, f"{live.base}/audit?since={today}&until={today}")
        assert b.evaluate(rows) == 50

        open_page(b, f"{live.base}/audit")
        fp = b.evaluate("document.querySelector('#signing-fingerprint').innerText")
        assert fp.startswith("sha256:")
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        b.call(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": str(downloads)},
            session=None,
        )
        b.evaluate("document.getElementById('export-button').click(); true")
        deadline = time.monotonic() + 20
        bundle: list[Path] = []
        while time.monotonic() < deadline and not bundle:
            bundle = list(downloads.glob("*.tar.gz"))
            time.sleep(0.1)
        assert bundle, "the export did not download"
        resize(b, 800)
        assert not overflows(b)
    assert main(["audit", "verify", str(bundle[0]), "--key", fp]) == 0
    assert main(["audit", "verify", str(bundle[0]), "--key", "sha256:" + "0" * 64]) == 1
