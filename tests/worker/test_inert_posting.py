"""A hostile review, end to end: the model's answer is written to make the forge act, and what
Revisor posts runs no quick action and links, mentions or refers to nothing, on GitLab (whose
strict fake runs quick actions like GitLab's extractor) and on Gitea."""

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
from revisor.forges.hooks import COMMAND_RE
from revisor.store import jobs, repos, servers
from revisor.worker.resources import WorkerResources
from tests.fakes.fake_gitea import FakeGitea
from tests.fakes.model import FakeFile
from tests.llm.fake_openai import FakeOpenAI
from tests.review.markdown_oracle import live_constructs
from tests.worker.conftest import APP_DIFF, MODEL_KEY, Appliance, write_config

HOSTILE = [
    {
        "path": "app.py",
        "line": 3,
        "side": "new",
        "severity": "critical",
        "title": "/approve",
        "body": (
            "Looks fine to me.\n/approve\n/merge\n  /assign_reviewer @mallory\n"
            "> /label ~approved\n/APPROVE\r/close\n"
            "cc @alice, see group/proj#1 and !12 ~bug %v1 &3 $4, www.evil.test, a@b.test, "
            "https://evil.test/x <img src=x onerror=alert(1)> [docs](http://evil.test)\n"
            "~~~\n/unapprove\n  /revisor review\n~~~\n/revisor review\n```\n/merge\nunclosed fence"
        ),
        "suggestion": "x = 1\n```\n/approve\n```",
    },
    {
        "path": "app.py",
        "line": 4,
        "side": "new",
        "severity": "major",
        "title": "Returns @alice's command",
        "body": "/rebase\n````\n```\n/merge\n```\n````",
    },
]


def posted_bodies_gitlab(app: Appliance) -> list[str]:
    return [n["body"] for n in app.gitlab.mrs[("group/app", 7)].notes]


def test_hostile_review_runs_no_quick_action_on_gitlab(appliance: Appliance) -> None:
    appliance.reply(*HOSTILE)
    appliance.runner()(job_id := appliance.new_job())
    assert appliance.job(job_id).state == "done", appliance.job(job_id).last_error
    mr = appliance.gitlab.mrs[("group/app", 7)]
    assert appliance.gitlab.quick_actions_run == []
    assert (mr.state, mr.approved_by) == ("opened", set())
    bodies = posted_bodies_gitlab(appliance)
    assert len(bodies) == 3  # both findings and the summary were posted...
    assert any("Looks fine to me." in b for b in bodies)
    for body in bodies:
        assert live_constructs(body) == [], body  # ...and nothing in them is live
        assert not COMMAND_RE.search(body)  # nor asks Revisor for another review
    statuses = appliance.gitlab.commit_statuses(appliance.head())
    assert all(live_constructs(s["description"]) == [] for s in statuses)


def test_a_suggestion_gitlab_could_run_is_left_out(appliance: Appliance) -> None:
    appliance.reply(HOSTILE[0])
    appliance.runner()(appliance.new_job())
    comment = appliance.gitlab.discussions("group/app", 7)[0]["notes"][0]["body"]
    assert "suggestion" not in comment.split("\n", 1)[1].split("```")[0]
    assert "A suggested change was left out" in comment


# --- Gitea --------------------------------------------------------------------------------

GT_TOKEN = "gitea-worker-test-token-xyz"


@dataclass
class GiteaAppliance:
    rt: Context
    gitea: FakeGitea
    model: FakeOpenAI
    repo: repos.Repo

    def run(self) -> jobs.Job:
        pr = self.gitea.prs[("owner/app", 3)]
        job_id = jobs.create(
            self.rt.db, repo_id=self.repo.id, mr_number=3, head_sha=pr.head_sha, trigger="open"
        )
        resources = WorkerResources.assemble(
            self.rt.settings, self.rt.dbs, self.rt.audit, self.rt.keys
        )
        try:
            resources.runner(job_id)
        finally:
            resources.close()
        job = jobs.get(self.rt.db, job_id)
        assert job is not None
        return job


@pytest.fixture
def gitea_appliance(tmp_path: Path) -> Iterator[GiteaAppliance]:
    gitea = FakeGitea(token=GT_TOKEN)
    gt_url = gitea.start()
    model = FakeOpenAI(model="m1", api_key=MODEL_KEY)
    write_config(tmp_path, model.start())
    settings = config.load(tmp_path / "data", environ={})
    init_data_dir(settings)
    rt = Context(settings, component="worker")
    servers.allow(rt.db, gt_url, added_by="test")
    repo = repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITEA,
        server=gt_url,
        project="owner/app",
        token=GT_TOKEN,
        webhook_secret="webhook-secret-for-tests-0123",
    )
    gitea.add_pull_request("owner/app", 3, files=[FakeFile("app.py", APP_DIFF)])
    yield GiteaAppliance(rt, gitea, model, repo)
    rt.close()
    gitea.stop()
    model.stop()


def test_hostile_review_links_and_mentions_nothing_on_gitea(
    gitea_appliance: GiteaAppliance,
) -> None:
    gitea_appliance.model.reply = json.dumps({"findings": HOSTILE})
    job = gitea_appliance.run()
    assert job.state == "done", job.last_error
    reviews = gitea_appliance.gitea.reviews("owner/app", 3)
    bodies = [c["body"] for r in reviews for c in r["comments"]] + [r["body"] for r in reviews]
    bodies += [c["body"] for c in gitea_appliance.gitea.comments("owner/app", 3)]
    assert any("Looks fine to me." in b for b in bodies)
    assert sum("Revisor review" in b for b in bodies) == 1  # the summary
    for body in bodies:
        assert live_constructs(body) == [], body
        assert not COMMAND_RE.search(body)
    for status in gitea_appliance.gitea.commit_statuses():
        assert live_constructs(status["description"]) == []


# --- suggestions, through each real adapter ------------------------------------------------

FIX = "    subprocess.run([user_input], check=True)\n    return cmd"
MULTI_LINE = {
    "path": "app.py",
    "line": 4,
    "side": "new",
    "severity": "major",
    "title": "Command result ignored",
    "body": "b",
    "suggestion": FIX,
    "suggestion_start_line": 3,
    "suggestion_end_line": 4,
}


def test_a_multi_line_suggestion_reaches_gitlab_as_a_suggestion_block(
    appliance: Appliance,
) -> None:
    appliance.reply(MULTI_LINE)
    appliance.runner()(job_id := appliance.new_job())
    assert appliance.job(job_id).state == "done", appliance.job(job_id).last_error
    (discussion,) = appliance.gitlab.discussions("group/app", 7)
    assert f"```suggestion:-1+0\n{FIX}\n```" in discussion["notes"][0]["body"]


def test_gitea_gets_the_suggestion_as_a_fenced_diff(gitea_appliance: GiteaAppliance) -> None:
    gitea_appliance.model.reply = json.dumps({"findings": [MULTI_LINE]})
    job = gitea_appliance.run()
    assert job.state == "done", job.last_error
    (review,) = gitea_appliance.gitea.reviews("owner/app", 3)
    (comment,) = review["comments"]
    assert (
        "```diff\n-    subprocess.call(user_input, shell=True)\n-    return cmd\n"
        "+    subprocess.run([user_input], check=True)\n+    return cmd\n```"
    ) in comment["body"]
    assert "```suggestion" not in comment["body"]
