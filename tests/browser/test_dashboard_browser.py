"""Headless Debian chromium against the real app over HTTP: sign in as the break-glass admin,
open a job, export the audit trail; no CSP violations along the way; screenshots kept."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import jobs, repos
from revisor.store.db import open_database
from revisor.web.app import create_app
from tests.browser.cdp import Browser, chromium_available
from tests.ldap.slapd import free_port
from tests.web.webapp import init_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    """The app on a loopback port; yields (base URL, admin password, job id)."""
    settings, password = init_settings(tmp_path)
    assert password
    db = open_database(settings.db_path)
    repo = repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://gitlab.test",
        project="platform/payments",
        token="tok",
        webhook_secret="whsec-0123456789",
    )
    job_id = jobs.create(db, repo_id=repo.id, mr_number=42, head_sha="d" * 40, trigger="open")
    assert jobs.lease(db, job_id, "w", 60)
    assert jobs.finish(
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
                    "body": "Convert first, round last.",
                }
            ],
            "skipped": [{"path": "poetry.lock", "reason": "generated"}],
            "model": "smollm2-135m-instruct-q4_1",
            "prompt_version": "review-v3",
        },
    )
    db.conn.close()
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", password, job_id
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "profile"
    profile.mkdir()
    b = Browser(profile)
    yield b
    b.close()


def test_sign_in_open_a_job_and_export_the_audit_trail(
    server: tuple[str, str, int], browser: Browser, tmp_path: Path
) -> None:
    base, password, job_id = server
    shots = tmp_path / "screenshots"
    shots.mkdir()

    browser.goto(f"{base}/jobs/{job_id}")  # anonymous: sent to the sign-in page, then back
    browser.wait_for("location.pathname === '/login'")
    browser.evaluate(
        "document.querySelector('input[name=username]').value = 'admin';"
        f"document.querySelector('input[name=password]').value = {json.dumps(password)};"
        "document.querySelector('form[action=\"/login\"]').submit(); true"
    )
    browser.wait_for(
        f"location.pathname === '/jobs/{job_id}' && document.readyState === 'complete'"
    )
    text = browser.evaluate("document.body.innerText")
    assert "Amount rounded before currency conversion" in text
    assert "poetry.lock" in text
    assert "review-v3" in text
    assert browser.evaluate("typeof htmx === 'object'")  # the vendored script loaded under the CSP
    browser.screenshot(shots / "job.png")

    browser.goto(f"{base}/")
    browser.wait_for("document.querySelectorAll('svg.chart').length === 3")
    browser.screenshot(shots / "overview.png")

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.call(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads)},
        session=None,
    )
    browser.goto(f"{base}/audit")
    assert "auth.signin.succeeded" in browser.evaluate("document.body.innerText")
    browser.screenshot(shots / "audit.png")
    browser.evaluate("document.getElementById('export-button').click(); true")
    deadline = time.monotonic() + 20
    bundle: list[Path] = []
    while time.monotonic() < deadline and not bundle:
        bundle = [p for p in downloads.glob("*.tar.gz")]
        time.sleep(0.1)
    assert bundle, "the export did not download"
    with tarfile.open(fileobj=io.BytesIO(bundle[0].read_bytes())) as tar:
        records = next(m for m in tar.getmembers() if m.name.endswith("records.jsonl"))
        lines = tar.extractfile(records).read().decode().splitlines()  # type: ignore[union-attr]
    events = [json.loads(line)["event"] for line in lines]
    assert "auth.signin.succeeded" in events

    violations = [m for m in browser.console_messages() if "Content Security Policy" in m]
    assert not violations, violations
