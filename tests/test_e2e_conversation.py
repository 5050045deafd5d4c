"""A reviewer that remembers and talks, for real: `revisor up` with the bundled model on
llama.cpp, on the strict fake GitLab and the strict fake Gitea.

1. a review: the two leaked tokens (app.py, lib/conf.py) are flagged inline, whatever the model;
2. a developer replies in the app.py thread: the model's answer lands in the same thread;
3. the developer gives the lib/conf.py comment a thumbs-down;
4. a second push fixes the app.py line and copies the lib/conf.py line into lib/copy.py: only
   the two changed files are reviewed (not lib/util.py, not lib/conf.py), the app.py thread is
   resolved with a note naming the commit (and saying that a person replied), and the copied
   finding is not posted (suppressed by its similarity key).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from revisor import config
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.review.redact import CREDENTIAL_TITLE
from revisor.store import jobs, repos, servers, suppressions
from tests import webhook_payloads as wp
from tests.fakes import FakeFile, FakeGitea, FakeGitLab
from tests.forges.test_hooks_messages import gitlab_note
from tests.test_e2e_llm import free_port, pytestmark, wait_for

__all__ = ["pytestmark"]

TOKEN = "glpat-e2e-token-0123456789"
SECRET = "e2e-webhook-secret-0123456789"
LEAK_A = '    api_token = "glpat-AbCdEfGhIjKlMnOpQrSt"'
LEAK_B = 'DEPLOY_TOKEN = "glpat-ZyXwVuTsRqPoNmLkJiHg"'
APP_V1 = (
    f"import subprocess\n\ndef run(cmd, user_input):\n{LEAK_A}\n    return subprocess.run(cmd)\n"
)
APP_V2 = "import subprocess\n\ndef run(cmd, user_input):\n    return subprocess.run(cmd)\n"
APP = FakeFile(
    "app.py",
    "@@ -1,4 +1,5 @@\n import subprocess\n \n-def run(cmd):\n+def run(cmd, user_input):\n"
    f"+{LEAK_A}\n     return subprocess.run(cmd)\n",
)
APP_FIXED = FakeFile(
    "app.py",
    "@@ -1,4 +1,4 @@\n import subprocess\n \n-def run(cmd):\n+def run(cmd, user_input):\n"
    "     return subprocess.run(cmd)\n",
)
CONF = FakeFile("lib/conf.py", f"@@ -0,0 +1,2 @@\n+{LEAK_B}\n+TIMEOUT = 5\n", new_file=True)
COPY = FakeFile("lib/copy.py", f"@@ -0,0 +1,2 @@\n+{LEAK_B}\n+RETRIES = 2\n", new_file=True)
UTIL = FakeFile("lib/util.py", "@@ -1,2 +1,3 @@\n def f(x):\n+    x = x or 0\n     return x\n")


@dataclass
class Up:
    base: str
    rt: Context
    repo: repos.Repo

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        r = httpx.post(self.base + path, content=body, headers=headers, timeout=10)
        assert r.status_code == 202, r.text
        return int(r.json()["job_id"])

    def finish(self, job_id: int, timeout: float = 600) -> jobs.Job:
        def done() -> bool:
            job = jobs.get(self.rt.db, job_id)
            return job is not None and job.state not in {"queued", "running"}

        wait_for(f"job {job_id}", done, timeout=timeout)
        job = jobs.get(self.rt.db, job_id)
        assert job is not None
        assert job.state == "done", (job.state, job.last_error, job.result)
        return job


@pytest.fixture
def appliance_up(tmp_path: Path) -> Iterator[Any]:
    """`up(kind, server_url, project)` starts the appliance for one repository."""
    procs: list[subprocess.Popen[bytes]] = []
    contexts: list[Context] = []

    def up(kind: ForgeKind, server: str, project: str) -> Up:
        web_port, model_port = free_port(), free_port()
        env = {
            **os.environ,
            "REVISOR_SERVER__PORT": str(web_port),
            "REVISOR_SERVER__PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "REVISOR_MODEL__SIDECAR_PORT": str(model_port),
            "REVISOR_MODEL__SIDECAR_CONTEXT": "4096",
            "REVISOR_MODEL__MAX_OUTPUT_TOKENS": "256",
        }
        data = tmp_path / "data"
        settings = config.load(data, environ=env)
        init_data_dir(settings)
        rt = Context(settings)
        contexts.append(rt)
        servers.allow(rt.db, server, added_by="test")
        repo = repos.add(rt.db, rt.keys, forge=kind, server=server, project=project,
                         token=TOKEN, webhook_secret=SECRET)  # fmt: skip
        log = (tmp_path / "up.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "revisor", "up", "--data-dir", str(data)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{web_port}"

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            try:
                return httpx.get(base + "/readyz", timeout=2).json().get("ready") is True
            except httpx.HTTPError:
                return False

        wait_for("the appliance to be ready", ready, timeout=240)
        return Up(base, rt, repo)

    yield up
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=60) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    for rt in contexts:
        rt.close()


def _discussion_of(gitlab: FakeGitLab, path: str) -> dict[str, Any]:
    found = [
        d
        for d in gitlab.discussions("group/app", 7)
        if (d["notes"][0].get("position") or {}).get("new_path") == path
        and CREDENTIAL_TITLE in d["notes"][0]["body"]
    ]
    assert len(found) == 1, [d["notes"][0]["body"][:80] for d in gitlab.discussions("group/app", 7)]
    return found[0]


def test_gitlab_review_reply_fix_and_thumbs_down(appliance_up: Any) -> None:
    gitlab = FakeGitLab(token=TOKEN)
    url = gitlab.start()
    try:
        gitlab.add_merge_request("group/app", 7, files=[APP, CONF, UTIL])
        head = gitlab.mrs[("group/app", 7)].versions[0][2]
        gitlab.add_file("group/app", head, "app.py", APP_V1)
        up = appliance_up(ForgeKind.GITLAB, url, "group/app")
        mr_hook = wp.gitlab_headers(SECRET)
        up.finish(up.post("/hooks/gitlab", wp.body_of(wp.gitlab_mr(head=head)), mr_hook))
        app_thread, conf_thread = (
            _discussion_of(gitlab, "app.py"),
            _discussion_of(gitlab, "lib/conf.py"),
        )

        # 2. a reply in the app.py thread is answered there
        reply = gitlab.reply_as("group/app", 7, app_thread["id"], "Is this token real?", "alice")
        note = gitlab_note("Is this token real?", id=reply["id"], type="DiffNote",
                           discussion_id=app_thread["id"])  # fmt: skip
        note_hook = wp.gitlab_headers(SECRET, event="Note Hook")
        up.finish(up.post("/hooks/gitlab", wp.body_of(note), note_hook))
        notes = _discussion_of(gitlab, "app.py")["notes"]
        assert [n["author"]["username"] for n in notes] == ["revisor-bot", "alice", "revisor-bot"]
        assert "Answer by Revisor" in notes[2]["body"]
        assert gitlab.quick_actions_run == []

        # 3. a thumbs-down on the lib/conf.py comment
        gitlab.award(conf_thread["notes"][0]["id"], "thumbsdown", "alice")

        # 4. a push fixes app.py and copies the lib/conf.py line into lib/copy.py
        new_head = gitlab.push_commit(
            "group/app", 7, [APP_FIXED, CONF, UTIL, COPY], touched=("app.py", "lib/copy.py")
        )[2]
        gitlab.add_file("group/app", new_head, "app.py", APP_V2)
        push = wp.gitlab_mr(action="update", oldrev=head, head=new_head)
        job = up.finish(up.post("/hooks/gitlab", wp.body_of(push), mr_hook))
        assert job.result is not None
        assert sorted(job.result["reviewed_files"]) == ["app.py", "lib/copy.py"]
        fixed = _discussion_of(gitlab, "app.py")
        assert all(n.get("resolved") for n in fixed["notes"])
        assert f"changed in `{new_head[:12]}`" in fixed["notes"][-1]["body"]
        assert "People replied" in fixed["notes"][-1]["body"]
        copies = [
            d
            for d in gitlab.discussions("group/app", 7)
            if (d["notes"][0].get("position") or {}).get("new_path") == "lib/copy.py"
            and CREDENTIAL_TITLE in d["notes"][0]["body"]
        ]
        assert copies == []
        summary = [n for n in gitlab.notes("group/app", 7) if "Revisor review" in n["body"]]
        assert "Suppressed: 1 finding" in summary[0]["body"]
        assert "the changes since" in summary[0]["body"]
        (row,) = suppressions.list_all(up.rt.db)
        assert (row.source, row.created_by) == ("award", "alice")
    finally:
        gitlab.stop()


def _conversation_of(gitea: FakeGitea, path: str) -> list[dict[str, Any]]:
    every = [c for r in gitea.reviews("owner/app", 3) for c in r["comments"]]
    first = [c for c in every if c["path"] == path and CREDENTIAL_TITLE in c["body"]]
    assert len(first) == 1, [c["body"][:80] for c in every]
    return gitea.conversation("owner/app", 3, first[0]["id"])


def test_gitea_review_reply_fix_and_thumbs_down(appliance_up: Any) -> None:
    gitea = FakeGitea(token=TOKEN)
    url = gitea.start()
    try:
        pr = gitea.add_pull_request("owner/app", 3, [APP, CONF, UTIL])
        head = pr.head_sha
        gitea.add_file("owner/app", head, "app.py", APP_V1)
        up = appliance_up(ForgeKind.GITEA, url, "owner/app")

        def hook(payload: dict[str, Any], event: str) -> int:
            body = wp.body_of(payload)
            return int(up.post("/hooks/gitea", body, wp.gitea_headers(SECRET, body, event=event)))

        up.finish(hook(wp.gitea_pr(head=head), "pull_request"))
        app_first = _conversation_of(gitea, "app.py")[0]
        conf_first = _conversation_of(gitea, "lib/conf.py")[0]

        reply = gitea.reply_as("owner/app", 3, app_first["id"], "Is this token real?", "alice")
        comment = wp.gitea_comment(body="Is this token real?")
        comment["comment"] = {"id": reply["id"], "body": reply["body"], "user": {"login": "alice"}}
        comment["sender"] = {"id": 2, "login": "alice"}
        up.finish(hook(comment, "issue_comment"))
        conversation = _conversation_of(gitea, "app.py")
        assert [c["user"]["login"] for c in conversation] == ["revisor-bot", "alice", "revisor-bot"]
        assert "Answer by Revisor" in conversation[2]["body"]

        gitea.react(conf_first["id"], "-1", "alice")
        new_head = gitea.push_commit(
            "owner/app", 3, [APP_FIXED, CONF, UTIL, COPY], touched=("app.py", "lib/copy.py")
        )
        gitea.add_file("owner/app", new_head, "app.py", APP_V2)
        job = up.finish(hook(wp.gitea_pr(action="synchronized", head=new_head), "pull_request"))
        assert job.result is not None
        assert sorted(job.result["reviewed_files"]) == ["app.py", "lib/copy.py"]
        resolved = _conversation_of(gitea, "app.py")
        assert resolved[0].get("resolver") is not None
        every = [c for r in gitea.reviews("owner/app", 3) for c in r["comments"]]
        assert not [
            c for c in every if c["path"] == "lib/copy.py" and CREDENTIAL_TITLE in c["body"]
        ]
        notes = [c["body"] for c in gitea.comments("owner/app", 3)]
        summary = [b for b in notes if "Revisor review" in b]
        assert "Suppressed: 1 finding" in summary[0]
    finally:
        gitea.stop()
