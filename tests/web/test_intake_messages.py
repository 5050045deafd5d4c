"""A comment that asks something of Revisor is a durable job carrying the comment; each comment
is its own job, and a new push does not supersede an answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from revisor.store import conversations, jobs
from revisor.web.app import create_app
from tests import webhook_payloads as wp
from tests.conftest import GITEA_SECRET, GITLAB_SECRET, DataDir
from tests.forges.test_hooks_messages import gitea_comment, gitlab_note


@pytest.fixture
def client(data_dir: DataDir) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(data_dir.settings)) as c:
        yield c


def _post_note(client: TestClient, payload: dict) -> dict:  # type: ignore[type-arg]
    headers = wp.gitlab_headers(GITLAB_SECRET, event="Note Hook")
    r = client.post("/hooks/gitlab", content=wp.body_of(payload), headers=headers)
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_question_is_a_job_with_its_comment(client: TestClient, data_dir: DataDir) -> None:
    job_id = _post_note(client, gitlab_note("/revisor ask why a lock?", id=501))["job_id"]
    job = jobs.get(data_dir.rt.db, job_id)
    assert job is not None
    assert (job.trigger, job.head_sha, job.mr_number) == ("ask", "", 7)
    message = conversations.message_for(data_dir.rt.db, job_id)
    assert message == conversations.JobMessage(
        "501",
        "6a9c1750b37d513a43987b574953fceb50b03ce7",
        "alice",
        "2",
        "/revisor ask why a lock?",
    )


def test_each_comment_is_its_own_job(client: TestClient, data_dir: DataDir) -> None:
    first = _post_note(client, gitlab_note("why?", id=601, type="DiffNote"))["job_id"]
    second = _post_note(client, gitlab_note("and this?", id=602, type="DiffNote"))["job_id"]
    assert first != second
    # a push does not supersede an answer still queued
    push = wp.gitlab_mr(action="update", oldrev=wp.OLDREV, head="ab" * 20)
    r = client.post(
        "/hooks/gitlab", content=wp.body_of(push), headers=wp.gitlab_headers(GITLAB_SECRET)
    )
    assert r.status_code == 202
    assert first not in r.json()["superseded"]
    states = {j.id: j.state for j in jobs.list_jobs(data_dir.rt.db)}
    assert states[first] == states[second] == "queued"


def test_a_review_command_does_not_join_a_queued_review(
    client: TestClient, data_dir: DataDir
) -> None:
    push = client.post(
        "/hooks/gitlab",
        content=wp.body_of(wp.gitlab_mr()),
        headers=wp.gitlab_headers(GITLAB_SECRET),
    )
    command = _post_note(client, gitlab_note("/revisor full-review", id=701))
    assert command["job_id"] != push.json()["job_id"]
    job = jobs.get(data_dir.rt.db, command["job_id"])
    assert job is not None
    assert (job.trigger, job.head_sha) == ("full-review", wp.HEAD)


def test_gitea_reply_candidate(client: TestClient, data_dir: DataDir) -> None:
    body = wp.body_of(gitea_comment("I think this is fine"))
    headers = wp.gitea_headers(GITEA_SECRET, body, event="issue_comment")
    r = client.post("/hooks/gitea", content=body, headers=headers)
    assert r.status_code == 202, r.text
    message = conversations.message_for(data_dir.rt.db, r.json()["job_id"])
    assert message is not None
    assert (message.note_id, message.author, message.thread_id) == ("77", "alice", "")
