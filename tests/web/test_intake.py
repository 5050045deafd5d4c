"""Webhook intake contract: authentication, classification, dedup, supersede, persistence."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from revisor.store import jobs
from revisor.web.app import create_app
from tests import webhook_payloads as wp
from tests.conftest import GITEA_SECRET, GITLAB_SECRET, SIGNING_SECRET, DataDir


@pytest.fixture
def client(data_dir: DataDir) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(data_dir.settings)) as c:
        yield c


def post_gitlab(client: TestClient, payload: dict, token: str = GITLAB_SECRET, **kw) -> object:  # type: ignore[type-arg]
    return client.post(
        "/hooks/gitlab", content=wp.body_of(payload), headers=wp.gitlab_headers(token, **kw)
    )


def all_jobs(d: DataDir) -> list[jobs.Job]:
    return jobs.list_jobs(d.rt.db, limit=1000)


def audit_events(d: DataDir) -> list[str]:
    return [r["event"] for r in d.rt.audit.records()]


def test_gitlab_open_creates_job_and_enqueues(client: TestClient, data_dir: DataDir) -> None:
    r = client.post(
        "/hooks/gitlab",
        content=wp.body_of(wp.gitlab_mr()),
        headers=wp.gitlab_headers(GITLAB_SECRET),
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    job = jobs.get(data_dir.rt.db, job_id)
    assert job is not None
    assert (job.state, job.mr_number, job.head_sha, job.trigger) == ("queued", 7, wp.HEAD, "open")
    assert job.repo_id == data_dir.gitlab.id
    assert r.headers["x-request-id"] == job.request_id
    # the job id goes onto the queue right after the answer
    deadline = time.monotonic() + 5
    while client.app.state.resources.intake.queue.depth() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.app.state.resources.intake.queue.depth() == 1
    assert "job.created" in audit_events(data_dir)


@pytest.mark.parametrize(
    "token", ["", "wrong-secret", GITLAB_SECRET[:-1], GITLAB_SECRET + "x", GITLAB_SECRET.upper()]
)
def test_gitlab_bad_token_is_401_and_audited(
    client: TestClient, data_dir: DataDir, token: str
) -> None:
    headers = wp.gitlab_headers(token)
    if not token:
        del headers["X-Gitlab-Token"]
    r = client.post("/hooks/gitlab", content=wp.body_of(wp.gitlab_mr()), headers=headers)
    assert r.status_code == 401
    assert all_jobs(data_dir) == []
    records = list(data_dir.rt.audit.records())
    assert records[-1]["event"] == "webhook.rejected"
    assert GITLAB_SECRET not in json.dumps(records)


def test_authentication_happens_before_parsing(client: TestClient, data_dir: DataDir) -> None:
    """Garbage with a wrong token is 401 (not 400): unauthenticated bodies are never parsed."""
    r = client.post("/hooks/gitlab", content=b"{not json", headers=wp.gitlab_headers("nope"))
    assert r.status_code == 401
    r = client.post("/hooks/gitlab", content=b"{not json", headers=wp.gitlab_headers(GITLAB_SECRET))
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]


def test_unknown_repository_is_404(client: TestClient, data_dir: DataDir) -> None:
    r = post_gitlab(client, wp.gitlab_mr(project="group/other"))
    assert r.status_code == 404  # type: ignore[attr-defined]
    assert all_jobs(data_dir) == []


def test_body_over_cap_is_413(data_dir: DataDir) -> None:
    from dataclasses import replace

    settings = replace(
        data_dir.settings, server=replace(data_dir.settings.server, max_body_bytes=2048)
    )
    with TestClient(app=create_app(settings)) as c:
        payload = wp.gitlab_mr()
        payload["object_attributes"]["description"] = "x" * 4096
        r = c.post(
            "/hooks/gitlab", content=wp.body_of(payload), headers=wp.gitlab_headers(GITLAB_SECRET)
        )
    assert r.status_code == 413
    assert all_jobs(data_dir) == []


def test_replay_is_deduplicated(client: TestClient, data_dir: DataDir) -> None:
    headers = wp.gitlab_headers(GITLAB_SECRET, uuid_="11111111-2222-3333-4444-555555555555")
    body = wp.body_of(wp.gitlab_mr())
    first = client.post("/hooks/gitlab", content=body, headers=headers)
    second = client.post("/hooks/gitlab", content=body, headers=headers)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"duplicate": True, "job_id": first.json()["job_id"]}
    assert len(all_jobs(data_dir)) == 1


def test_dedup_falls_back_to_body_hash(client: TestClient, data_dir: DataDir) -> None:
    body = wp.body_of(wp.gitlab_mr())
    headers = {"X-Gitlab-Token": GITLAB_SECRET, "X-Gitlab-Event": "Merge Request Hook"}
    assert client.post("/hooks/gitlab", content=body, headers=headers).status_code == 202
    assert client.post("/hooks/gitlab", content=body, headers=headers).json()["duplicate"] is True


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (wp.gitlab_mr(draft=True), "draft merge request"),
        (wp.gitlab_mr(action="update"), "update without new commits"),
        (wp.gitlab_mr(action="approved"), "merge request action 'approved'"),
        (wp.gitlab_mr(action="merge", state="merged"), "merge request is merged"),
        (wp.gitlab_mr(action=None), "merge request action 'missing'"),
        (wp.gitlab_note(note="looks good to me"), "comment has no /revisor command"),
    ],
)
def test_gitlab_events_that_do_not_review(
    client: TestClient, data_dir: DataDir, payload: dict, reason: str
) -> None:  # type: ignore[type-arg]
    event = "Note Hook" if payload["object_kind"] == "note" else "Merge Request Hook"
    r = post_gitlab(client, payload, event=event)
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert r.json() == {"ignored": reason}  # type: ignore[attr-defined]
    assert all_jobs(data_dir) == []


def test_gitlab_update_with_new_commits_and_old_payload_without_action(
    client: TestClient, data_dir: DataDir
) -> None:
    r1 = post_gitlab(client, wp.gitlab_mr(action="update", oldrev=wp.OLDREV))
    r2 = post_gitlab(client, wp.gitlab_mr(action=None, oldrev=wp.OLDREV, head="ab" * 20))
    assert r1.status_code == r2.status_code == 202  # type: ignore[attr-defined]
    assert [j.trigger for j in all_jobs(data_dir)] == ["update", "update"]


def test_gitlab_note_command_queues_review(client: TestClient, data_dir: DataDir) -> None:
    r = post_gitlab(client, wp.gitlab_note(note="please\n/revisor review"), event="Note Hook")
    assert r.status_code == 202  # type: ignore[attr-defined]
    job = all_jobs(data_dir)[0]
    assert (job.trigger, job.head_sha) == ("command", wp.HEAD)


def test_new_head_supersedes_queued_and_running_jobs(client: TestClient, data_dir: DataDir) -> None:
    db = data_dir.rt.db
    first = post_gitlab(client, wp.gitlab_mr(head="aa" * 20)).json()["job_id"]  # type: ignore[attr-defined]
    second = post_gitlab(
        client, wp.gitlab_mr(action="update", oldrev="aa" * 20, head="bb" * 20)
    ).json()["job_id"]  # type: ignore[attr-defined]
    assert jobs.lease(db, second, "w1", 60) is not None  # second is running now
    third = post_gitlab(client, wp.gitlab_mr(action="update", oldrev="bb" * 20, head="cc" * 20))
    assert third.json()["superseded"] == [second]  # type: ignore[attr-defined]
    states = {j.id: j.state for j in all_jobs(data_dir)}
    assert states[first] == "superseded"
    assert states[second] == "superseded"
    assert states[third.json()["job_id"]] == "queued"  # type: ignore[attr-defined]
    # the superseded worker can no longer record anything
    assert jobs.finish(db, second, "w1", "done", result={}) is False
    assert "job.superseded" in audit_events(data_dir)


def test_second_request_for_same_head_joins_queued_job(
    client: TestClient, data_dir: DataDir
) -> None:
    a = post_gitlab(client, wp.gitlab_mr()).json()["job_id"]  # type: ignore[attr-defined]
    b = post_gitlab(client, wp.gitlab_note(), event="Note Hook").json()["job_id"]  # type: ignore[attr-defined]
    assert a == b
    assert len(all_jobs(data_dir)) == 1


# --- GitLab signed webhooks -------------------------------------------------------------------


def test_signed_gitlab_webhook_accepted(client: TestClient, data_dir: DataDir) -> None:
    body = wp.body_of(wp.gitlab_mr(project="group/signed"))
    r = client.post(
        "/hooks/gitlab", content=body, headers=wp.gitlab_signed_headers(SIGNING_SECRET, body)
    )
    assert r.status_code == 202, r.text


def _tamper(headers: dict[str, str], case: str, body: bytes) -> tuple[dict[str, str], bytes]:
    if case == "truncated":
        headers["webhook-signature"] = headers["webhook-signature"][:-6]
    elif case == "wrong-algorithm":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v1a,")
    elif case == "stale":
        return wp.gitlab_signed_headers(
            SIGNING_SECRET, body, timestamp=int(time.time()) - 3600
        ), body
    elif case == "body-changed":
        return headers, body.replace(b"Add the widget", b"Add the widgeT")
    elif case == "missing":
        del headers["webhook-signature"]
    elif case == "plain-token-instead":
        del headers["webhook-signature"]
        headers["X-Gitlab-Token"] = "unused-plain-secret-123"
    return headers, body


@pytest.mark.parametrize(
    "case",
    ["truncated", "wrong-algorithm", "stale", "body-changed", "missing", "plain-token-instead"],
)
def test_signed_gitlab_webhook_rejections(client: TestClient, data_dir: DataDir, case: str) -> None:
    body = wp.body_of(wp.gitlab_mr(project="group/signed"))
    headers, body = _tamper(wp.gitlab_signed_headers(SIGNING_SECRET, body), case, body)
    r = client.post("/hooks/gitlab", content=body, headers=headers)
    assert r.status_code == 401
    assert all_jobs(data_dir) == []


# --- Gitea / Forgejo --------------------------------------------------------------------------


@pytest.mark.parametrize("forgejo", [False, True])
def test_gitea_pull_request_opened(client: TestClient, data_dir: DataDir, forgejo: bool) -> None:
    body = wp.body_of(wp.gitea_pr())
    r = client.post(
        "/hooks/gitea", content=body, headers=wp.gitea_headers(GITEA_SECRET, body, forgejo=forgejo)
    )
    assert r.status_code == 202, r.text
    job = all_jobs(data_dir)[0]
    assert (job.repo_id, job.mr_number, job.trigger) == (data_dir.gitea.id, 3, "open")


def test_gitea_synchronized_and_comment(client: TestClient, data_dir: DataDir) -> None:
    for payload, event in (
        (wp.gitea_pr(action="synchronized"), "pull_request"),
        (wp.gitea_comment(), "issue_comment"),
    ):
        body = wp.body_of(payload)
        r = client.post(
            "/hooks/gitea", content=body, headers=wp.gitea_headers(GITEA_SECRET, body, event=event)
        )
        assert r.status_code == 202, r.text
    assert sorted(j.trigger for j in all_jobs(data_dir)) == ["command", "update"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (wp.gitea_pr(title="WIP: widget"), "work-in-progress pull request"),
        (wp.gitea_pr(draft=True), "work-in-progress pull request"),
        (wp.gitea_pr(action="label_updated"), "pull request action 'label_updated'"),
    ],
)
def test_gitea_ignored(client: TestClient, data_dir: DataDir, payload: dict, reason: str) -> None:  # type: ignore[type-arg]
    body = wp.body_of(payload)
    r = client.post("/hooks/gitea", content=body, headers=wp.gitea_headers(GITEA_SECRET, body))
    assert r.json() == {"ignored": reason}
    assert all_jobs(data_dir) == []


@pytest.mark.parametrize(
    "case", ["missing", "truncated", "other-secret", "forgejo-bad-gitea-good", "empty"]
)
def test_gitea_signature_rejections(client: TestClient, data_dir: DataDir, case: str) -> None:
    body = wp.body_of(wp.gitea_pr())
    headers = wp.gitea_headers(GITEA_SECRET, body)
    if case == "missing":
        del headers["X-Gitea-Signature"]
    elif case == "truncated":
        headers["X-Gitea-Signature"] = headers["X-Gitea-Signature"][:32]
    elif case == "other-secret":
        headers = wp.gitea_headers("another-secret-entirely-xx", body)
    elif case == "forgejo-bad-gitea-good":
        headers["X-Forgejo-Signature"] = "0" * 64
    elif case == "empty":
        headers["X-Gitea-Signature"] = ""
    r = client.post("/hooks/gitea", content=body, headers=headers)
    assert r.status_code == 401
    assert all_jobs(data_dir) == []


def test_gitea_webhook_cannot_use_gitlab_endpoint(client: TestClient, data_dir: DataDir) -> None:
    body = wp.body_of(wp.gitea_pr())
    r = client.post("/hooks/gitlab", content=body, headers=wp.gitea_headers(GITEA_SECRET, body))
    assert r.status_code == 401


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"
    assert r.json()["checks"]["queue"] == "ok"


def test_readiness_takes_no_write_lock(client: TestClient, data_dir: DataDir) -> None:
    """A probe polled every few seconds must not queue behind (or block) the intake's writes."""
    import sqlite3

    writer = sqlite3.connect(str(data_dir.settings.db_path), timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        r = client.get("/readyz")
    finally:
        writer.rollback()
        writer.close()
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["database"] == "ok"


def test_readiness_shows_no_exception_text(data_dir: DataDir) -> None:
    """Unauthenticated: a failing check says "error" or not ok; its reason goes to the log only."""
    secret_detail = "ConnectError: http://model-host.internal:8081/v1 refused; key=sk-abc"

    def failing_model() -> dict[str, object]:
        return {"ok": False, "endpoint": "local", "detail": secret_detail}

    app = create_app(data_dir.settings, model_health=failing_model)
    with TestClient(app=app) as c:
        app.state.resources.intake.queue.ping = lambda: (_ for _ in ()).throw(
            OSError("disk I/O error at /var/lib/revisor/queue.db")
        )
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {
        "ready": False,
        "checks": {"database": "ok", "queue": "error", "model": {"ok": False, "endpoint": "local"}},
    }
    assert "model-host" not in r.text
    assert "/var/lib" not in r.text


def test_a_rotated_or_removed_secret_takes_effect_at_once(
    client: TestClient, data_dir: DataDir
) -> None:
    """The intake caches decrypted secrets; any change to a repository row invalidates them."""
    from revisor.store import repos

    assert post_gitlab(client, wp.gitlab_mr(iid=1)).status_code == 202  # type: ignore[attr-defined]
    repos.set_webhook_secret(
        data_dir.rt.db, data_dir.rt.keys, data_dir.gitlab, "a-brand-new-secret-4567"
    )
    assert post_gitlab(client, wp.gitlab_mr(iid=2)).status_code == 401  # type: ignore[attr-defined]
    new = post_gitlab(client, wp.gitlab_mr(iid=3), token="a-brand-new-secret-4567")
    assert new.status_code == 202  # type: ignore[attr-defined]
    repos.remove(data_dir.rt.db, data_dir.gitlab.id)
    gone = post_gitlab(client, wp.gitlab_mr(iid=4), token="a-brand-new-secret-4567")
    assert gone.status_code == 401  # type: ignore[attr-defined]
