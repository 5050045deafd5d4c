"""What a Git server says in an error page never reaches `jobs.last_error` (or the audit log)
verbatim: only the HTTP status and, at most, a short, cleaned reason from its JSON message."""

from __future__ import annotations

import json

from revisor.audit import AuditLog
from tests.worker.conftest import Appliance

SECRET = "AKIAIOSFODNN7EXAMPLE-" + "s3cr3t" * 4
HTML = (
    "<!DOCTYPE html><html><head><title>500</title><script>alert(1)</script></head><body>"
    + f"<pre>Traceback: db password={SECRET}\x1b[31m\n" * 20_000
    + "</pre></body></html>"
).encode()


def test_a_5xx_html_page_leaves_only_the_status_in_last_error(appliance: Appliance) -> None:
    appliance.gitlab.inject(500, times=50, body=HTML, headers={"Content-Type": "text/html"})
    appliance.runner()(job_id := appliance.new_job())
    job = appliance.job(job_id)
    assert job.state == "queued"  # a 5xx is retried later
    error = job.last_error or ""
    assert "(500)" in error
    assert SECRET not in error
    assert "<" not in error
    assert "Traceback" not in error
    assert len(error) <= 500
    assert error.isprintable()


def test_a_4xx_keeps_a_short_clean_reason_and_no_body(appliance: Appliance) -> None:
    message = "\x1b[2J\u202eproject is archived\r\nX-Injected: 1 " + "padding " * 200 + SECRET
    body = json.dumps({"message": message, "trace": SECRET}).encode()
    appliance.gitlab.inject(422, times=50, body=body, headers={"Content-Type": "application/json"})
    appliance.runner()(job_id := appliance.new_job())
    job = appliance.job(job_id)
    assert job.state == "failed"
    error = job.last_error or ""
    assert "(422)" in error
    assert "project is archived X-Injected: 1 padding" in error
    assert SECRET not in error
    assert error.isprintable()
    log = AuditLog(appliance.settings.audit_path)
    try:
        failed = [r for r in log.records() if r["event"] == "job.failed"]
    finally:
        log.close()
    assert failed
    assert SECRET not in json.dumps(failed)
    assert "\\u001b" not in json.dumps(failed)
