"""Real processes: `revisor serve --workers 2` (Granian) and `revisor worker` on one data dir.

One scenario runs once for the module (a webhook that becomes a posted review, plus a burst of
unauthenticated webhooks spread over both web workers) and the tests read what it left behind:

- one scrape of `/metrics` sums the counters of both web workers and of the worker process;
- the review can be followed by `request_id` from the webhook's log line to the worker's
  posted-comment line;
- no planted secret, diff line or prompt text appears in any log file or captured stderr;
- `revisor status` sees web, worker and model up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from revisor import config, metrics
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.store import jobs, repos, servers
from tests import webhook_payloads as wp
from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.model import FakeFile
from tests.llm.fake_openai import FakeOpenAI
from tests.reliability.harness import Server, revisor_cmd, send_mr_hook, wait_for
from tests.secret_scan import assert_no_plaintext
from tests.worker.conftest import APP_DIFF, GL_TOKEN, MODEL_KEY, Appliance, finding, write_config
from tests.worker.test_crash import Workers

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "webhook-secret-for-tests-0123"  # what the harness signs with
LDAP_BIND_PASSWORD = "ldap-bind-password-planted-4242"
USER_PASSWORD = "user-password-planted-7777"
DIFF_LINE = "subprocess.call(user_input, shell=True)"
PROMPT_LINE = "You are Revisor, a careful senior engineer reviewing a merge request."
BURST_MAX = 200  # unauthenticated webhooks sent, at most, to reach both web workers


@dataclass
class Scenario:
    app: Appliance
    server: Server
    worker_pid: int
    job: jobs.Job
    unauthorized: int
    rate_limited: int  # past its allowance of rejected deliveries, an address gets 429
    scrape: str
    status: dict[str, Any]
    status_code: int
    pids_with_webhooks: set[int] = field(default_factory=set)

    @property
    def logs(self) -> Path:
        return self.app.settings.log_dir


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def webhook_counts_by_pid(directory: Path) -> dict[int, float]:
    """Per process (from the metric file names), its webhook deliveries."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, val, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
            if json.loads(key)[0] == "revisor_webhook_deliveries":
                counts[pid] = counts.get(pid, 0.0) + val
    return counts


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("observe")
    gitlab = FakeGitLab(token=GL_TOKEN)
    gl_url = gitlab.start()
    model = FakeOpenAI(model="m1", api_key=MODEL_KEY)
    model_url = model.start()
    (root / "ldap.pw").write_text(LDAP_BIND_PASSWORD)
    write_config(
        root,
        model_url,
        extra=f"""
[ldap]
enabled = true
servers = ["ldaps://127.0.0.1:1"]
bind_dn = "cn=revisor,dc=example,dc=org"
bind_password_file = "{root / "ldap.pw"}"
user_base = "ou=people,dc=example,dc=org"
connect_timeout_seconds = 1.0
""",
    )
    settings = config.load(root / "data", environ={})
    init_data_dir(settings)
    rt = Context(settings, component="test")
    servers.allow(rt.db, gl_url, added_by="test")
    repo = repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITLAB,
        server=gl_url,
        project="group/app",
        token=GL_TOKEN,
        webhook_secret=WEBHOOK_SECRET,
    )
    gitlab.add_merge_request("group/app", 7, files=[FakeFile("app.py", APP_DIFF)])
    app = Appliance(root, settings, rt, gitlab, model, repo)
    app.reply(finding(3))
    server = Server(settings.data_dir, root)
    workers = Workers(app)
    try:
        server.start(workers=2)
        worker = workers.start()
        with httpx.Client() as client:
            delivery = send_mr_hook(client, server.url, iid=7, head=app.head())
        assert delivery.status == 202, delivery.body
        job_id = delivery.body["job_id"]
        # A sign-in attempt with a password that must never be logged (LDAP is unreachable).
        with httpx.Client(base_url=server.url) as browser:
            page = browser.get("/login")
            token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
            browser.post(
                "/login",
                data={
                    "username": "alice",
                    "password": USER_PASSWORD,
                    "_csrf": token.group(1) if token else "",
                },
            )
        # Unauthenticated webhooks, each on a new connection, until both web workers counted
        # some (the kernel picks the worker; bounded, never a timing assumption).
        body = wp.body_of(wp.gitlab_mr())
        directory = metrics.metrics_dir(settings.data_dir)
        sent, statuses = 0, []
        while sent < BURST_MAX:
            r = httpx.post(
                server.url + "/hooks/gitlab", content=body, headers=wp.gitlab_headers("wrong")
            )
            assert r.status_code in (401, 429)
            statuses.append(r.status_code)
            sent += 1
            if sent % 10 == 0 and len(webhook_counts_by_pid(directory)) >= 2:
                break
        wait_for("the review", lambda: app.job(job_id).state in jobs.TERMINAL)
        scrape = httpx.get(server.url + "/metrics", timeout=10)
        assert scrape.status_code == 200
        status = subprocess.run(
            [*revisor_cmd(settings.data_dir, "status"), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "REVISOR_SERVER__PORT": str(server.port)},
            check=False,
        )
        yield Scenario(
            app=app,
            server=server,
            worker_pid=worker.pid,
            job=app.job(job_id),
            unauthorized=statuses.count(401),
            rate_limited=statuses.count(429),
            scrape=scrape.text,
            status=json.loads(status.stdout or "{}"),
            status_code=status.returncode,
            pids_with_webhooks=set(webhook_counts_by_pid(directory)),
        )
    finally:
        server.stop()
        workers.stop_all()
        rt.close()
        gitlab.stop()
        model.stop()


def test_the_review_happened(scenario: Scenario) -> None:
    assert scenario.job.state == "done", scenario.job.last_error
    assert scenario.job.request_id


def test_one_scrape_sums_both_web_workers_and_the_worker(scenario: Scenario) -> None:
    text = scenario.scrape
    assert len(scenario.pids_with_webhooks) >= 2, "the burst never reached both web workers"
    assert scenario.worker_pid not in scenario.pids_with_webhooks
    assert (
        value(text, "revisor_webhook_deliveries_total", forge="gitlab", outcome="unauthorized")
        == scenario.unauthorized
    )
    assert value(text, "revisor_webhook_deliveries_total", outcome="accepted") == 1
    assert (
        value(text, "revisor_webhook_deliveries_total", forge="gitlab", outcome="rate_limited")
        == scenario.rate_limited
    )
    assert value(text, "revisor_webhook_intake_seconds_count") == (
        scenario.unauthorized + scenario.rate_limited + 1
    )
    # counted only in the `revisor worker` process:
    assert value(text, "revisor_comments_posted_total", forge="gitlab") == 1
    assert value(text, "revisor_review_duration_seconds_count", outcome="done") == 1
    assert value(text, "revisor_model_tokens_total", model="m1", kind="prompt") > 0
    assert value(text, "revisor_forge_requests_total", forge="gitlab", status="200") > 0
    # read from the database at scrape time:
    assert value(text, "revisor_jobs", state="done") == 1
    assert value(text, "revisor_queue_depth") == 0
    assert "revisor_queue_oldest_due_seconds" in families(text)


def test_review_can_be_followed_by_request_id(scenario: Scenario) -> None:
    rid, job_id = scenario.job.request_id, scenario.job.id

    def lines(name: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in (scenario.logs / name).read_text().splitlines() if x]

    web = [e for e in lines("web.log") if e.get("request_id") == rid]
    assert len(web) == 1
    assert web[0]["job_id"] == job_id
    assert web[0]["outcome"] == "accepted"
    assert web[0]["component"] == "web"
    worker = [e for e in lines("worker.log") if e.get("job_id") == job_id]
    assert worker, "the worker wrote nothing for the job"
    assert all(e.get("request_id") == rid for e in worker)
    assert worker[0]["msg"].startswith("job started")
    posted = [e for e in worker if e["msg"].startswith("posted ")]
    assert posted
    assert posted[-1]["msg"].startswith("posted 1 comment(s)")


def test_no_secret_diff_or_prompt_in_any_log(scenario: Scenario) -> None:
    root = scenario.app.root
    captured = [*root.glob("serve-*.log"), *root.glob("worker-*.log")]
    assert captured
    assert list(scenario.logs.glob("*.log"))
    assert_no_plaintext(
        [scenario.logs, *captured],
        [
            GL_TOKEN,
            MODEL_KEY,
            WEBHOOK_SECRET,
            LDAP_BIND_PASSWORD,
            USER_PASSWORD,
            DIFF_LINE,
            PROMPT_LINE,
            "user_input reaches a shell",  # the model's answer
        ],
    )


def test_status_sees_every_service(scenario: Scenario) -> None:
    status = scenario.status
    services = {s["name"]: s for s in status["services"]}
    assert services["web"]["up"], services["web"]
    assert services["worker"]["up"], services["worker"]
    assert str(scenario.worker_pid) in services["worker"]["detail"]
    assert services["model"]["up"], services["model"]
    assert status["jobs_last_hour"]["done"] == 1
    assert status["queue_depth"] == 0
    assert scenario.status_code == 0
