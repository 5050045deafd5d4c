"""A whole appliance around the worker: data dir, strict fake GitLab, fake model endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from revisor import config
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.store import jobs, repos, servers
from revisor.worker.resources import WorkerResources
from revisor.worker.runner import Runner
from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.model import FakeFile
from tests.llm.fake_openai import FakeOpenAI

GL_TOKEN = "glpat-worker-test-token-xyz"
MODEL_KEY = "sk-worker-test-key-123"

APP_DIFF = (
    "@@ -1,4 +1,6 @@\n"
    " import subprocess\n"
    "-def run(cmd):\n"
    "+def run(cmd, user_input):\n"
    "+    subprocess.call(user_input, shell=True)\n"
    "+    return cmd\n"
    " \n"
    " x = 1\n"
)


def finding(
    line: int, title: str = "Shell injection", severity: str = "critical", path: str = "app.py"
) -> dict:  # type: ignore[type-arg]
    return {
        "path": path,
        "line": line,
        "side": "new",
        "severity": severity,
        "title": title,
        "body": "user_input reaches a shell.",
    }


@dataclass
class Appliance:
    root: Path
    settings: config.Settings
    rt: Context
    gitlab: FakeGitLab
    model: FakeOpenAI
    repo: repos.Repo
    resources: WorkerResources | None = None

    def head(self, iid: int = 7) -> str:
        return self.gitlab.mrs[("group/app", iid)].versions[0][2]

    def new_job(self, iid: int = 7, head: str | None = None) -> int:
        return jobs.create(
            self.rt.db,
            repo_id=self.repo.id,
            mr_number=iid,
            head_sha=head or self.head(iid),
            trigger="open",
        )

    def runner(self) -> Runner:
        """The runner of the worker's resources, built once for the appliance (like
        `revisor worker` does for its process) and sharing the appliance's handles."""
        if self.resources is None:
            self.resources = WorkerResources.assemble(
                self.settings, self.rt.dbs, self.rt.audit, self.rt.keys
            )
        return self.resources.runner

    def close(self) -> None:
        if self.resources is not None:
            self.resources.close()
        self.rt.close()

    def job(self, job_id: int) -> jobs.Job:
        job = jobs.get(self.rt.db, job_id)
        assert job is not None
        return job

    def reply(self, *findings: dict) -> None:  # type: ignore[type-arg]
        self.model.reply = json.dumps({"findings": list(findings)})


def write_config(root: Path, model_url: str, extra: str = "") -> None:
    (root / "model.key").write_text(MODEL_KEY)
    root.mkdir(exist_ok=True)
    (root / "data").mkdir(mode=0o700, exist_ok=True)
    (root / "data" / "revisor.toml").write_text(
        f"""
[worker]
lease_seconds = 30
backoff_base_seconds = 0.2
backoff_max_seconds = 1.0
max_attempts = 3

[review]
verify = false  # one model call per chunk; tests/worker/test_verification.py turns it on

[model]
structured_output = "json_object"

[[model.endpoints]]
id = "fake"
url = "{model_url}/v1"
model = "m1"
api_key_file = "{root / "model.key"}"
max_concurrency = 2
timeout_seconds = 5
{extra}
"""
    )


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[Appliance]:
    gitlab = FakeGitLab(token=GL_TOKEN)
    gl_url = gitlab.start()
    model = FakeOpenAI(model="m1", api_key=MODEL_KEY)
    model_url = model.start()
    write_config(tmp_path, model_url)
    settings = config.load(tmp_path / "data", environ={})
    init_data_dir(settings)
    rt = Context(settings, component="worker")
    servers.allow(rt.db, gl_url, added_by="test")
    repo = repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITLAB,
        server=gl_url,
        project="group/app",
        token=GL_TOKEN,
        webhook_secret="webhook-secret-for-tests-0123",
    )
    gitlab.add_merge_request("group/app", 7, files=[FakeFile("app.py", APP_DIFF)])
    app = Appliance(tmp_path, settings, rt, gitlab, model, repo)
    app.reply(finding(3))
    yield app
    app.close()
    gitlab.stop()
    model.stop()
