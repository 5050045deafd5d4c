"""The dedup key prefers delivery ids the signature covers; an unsigned id is bound to its body,
so a forged header cannot make a different real delivery look like a replay."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from revisor.domain import ForgeKind
from revisor.forges import hooks_for
from revisor.store import jobs
from revisor.web.app import create_app
from tests import webhook_payloads as wp
from tests.conftest import GITEA_SECRET, GITLAB_SECRET, SIGNING_SECRET, DataDir

FORGED_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def client(data_dir: DataDir) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(data_dir.settings)) as c:
        yield c


def test_a_forged_gitlab_event_uuid_cannot_suppress_a_real_delivery(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
) -> None:
    """Beside a plain token, `X-Gitlab-Event-UUID` and `Idempotency-Key` are not signed: whoever
    replays an old body can put the id of the next real delivery on it."""
    url = wp.hook_path(data_dir.gitlab)
    old = wp.body_of(wp.gitlab_mr(iid=1))
    replay = client.post(
        url, content=old, headers=wp.gitlab_headers(GITLAB_SECRET, uuid_=FORGED_ID)
    )
    headers = wp.gitlab_headers(GITLAB_SECRET, uuid_=FORGED_ID) | {"Idempotency-Key": FORGED_ID}
    real = client.post(url, content=wp.body_of(wp.gitlab_mr(iid=2)), headers=headers)
    assert replay.status_code == real.status_code == 202, real.text
    assert sorted(j.mr_number for j in jobs.list_jobs(data_dir.rt.db)) == [1, 2]
    # GitLab's own retry (same id, same body) is still a replay
    again = client.post(url, content=wp.body_of(wp.gitlab_mr(iid=2)), headers=headers)
    assert again.json() == {"duplicate": True, "job_id": real.json()["job_id"]}


def test_a_forged_gitea_delivery_id_cannot_suppress_a_real_delivery(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
) -> None:
    """Gitea's HMAC covers the body only: a captured signed body replays with any
    `X-Gitea-Delivery`."""
    url = wp.hook_path(data_dir.gitea)
    old = wp.body_of(wp.gitea_pr(number=1))
    new = wp.body_of(wp.gitea_pr(number=2))
    replay = client.post(
        url, content=old, headers=wp.gitea_headers(GITEA_SECRET, old, delivery=FORGED_ID)
    )
    real_headers = wp.gitea_headers(GITEA_SECRET, new, forgejo=True, delivery=FORGED_ID)
    real = client.post(url, content=new, headers=real_headers)
    assert replay.status_code == real.status_code == 202, real.text
    assert sorted(j.mr_number for j in jobs.list_jobs(data_dir.rt.db)) == [1, 2]
    again = client.post(url, content=new, headers=real_headers)
    assert again.json() == {"duplicate": True, "job_id": real.json()["job_id"]}


def test_a_signed_gitlab_delivery_is_deduplicated_by_its_signed_id_only(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
) -> None:
    """`webhook-id` is signed: GitLab's retry (new timestamp, new signature) is a replay. The
    unsigned `Idempotency-Key` beside it counts for nothing."""
    url = wp.hook_path(data_dir.signed)
    body = wp.body_of(wp.gitlab_mr(project="group/signed", iid=1))
    first = wp.gitlab_signed_headers(SIGNING_SECRET, body, webhook_id="delivery-a")
    r1 = client.post(url, content=body, headers=first)
    later = int(first["webhook-timestamp"]) + 30
    retry = wp.gitlab_signed_headers(SIGNING_SECRET, body, webhook_id="delivery-a", timestamp=later)
    assert retry["webhook-signature"] != first["webhook-signature"]
    assert client.post(url, content=body, headers=retry).json()["duplicate"] is True
    other = wp.body_of(wp.gitlab_mr(project="group/signed", iid=2))
    forged = wp.gitlab_signed_headers(SIGNING_SECRET, other, webhook_id="delivery-b")
    forged["Idempotency-Key"] = "delivery-a"
    r2 = client.post(url, content=other, headers=forged)
    assert (r1.status_code, r2.status_code) == (202, 202), r2.text
    assert sorted(j.mr_number for j in jobs.list_jobs(data_dir.rt.db)) == [1, 2]


@pytest.mark.parametrize(
    ("forge", "headers", "signed_id", "expected"),
    [
        (ForgeKind.GITLAB, {"webhook-id": "w", "idempotency-key": "i"}, True, "gitlab:w"),
        (ForgeKind.GITLAB, {"webhook-id": "w", "idempotency-key": "i"}, False, "gitlab:i:sha256:"),
        (ForgeKind.GITLAB, {"x-gitlab-event-uuid": "u"}, False, "gitlab:u:sha256:"),
        (ForgeKind.GITLAB, {"x-gitlab-event-uuid": "u"}, True, "gitlab:u:sha256:"),
        (ForgeKind.GITEA, {"x-gitea-delivery": "d", "webhook-id": "w"}, True, "gitea:d:sha256:"),
        (ForgeKind.GITEA, {}, False, "gitea:sha256:"),
    ],
)
def test_the_dedup_key_rule(
    forge: ForgeKind, headers: dict[str, str], signed_id: bool, expected: str
) -> None:
    key = hooks_for(forge).delivery_key(headers, b"{}", signed=signed_id)
    assert key.startswith(expected)
    if "sha256:" in expected:
        assert key.endswith(":sha256:" + hashlib.sha256(b"{}").hexdigest())
        other = hooks_for(forge).delivery_key(headers, b"[]", signed=signed_id)
        assert other != key
    assert (
        len(hooks_for(forge).delivery_key({k: "x" * 5000 for k in headers}, b"", signed=False))
        <= 250
    )
