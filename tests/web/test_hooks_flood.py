"""A flood of rejected deliveries: 429 without a secret check once an address is over its limit,
other addresses unaffected, and O(1) audit records per window. Clocks are injected."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from revisor.domain import ForgeKind
from revisor.forges.gitea import hooks as gitea_hooks_module
from revisor.forges.gitlab import hooks as gitlab_hooks_module
from revisor.web.app import create_app
from revisor.web.intake import WebhookIntake
from revisor.web.rejections import RejectionAudit, RejectionLimiter
from tests import webhook_payloads as wp
from tests.conftest import GITLAB_SECRET, DataDir
from tests.web.test_rejections import Clock


@pytest.fixture
def client(data_dir: DataDir) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(data_dir.settings)) as c:
        yield c


@pytest.fixture
def clock(client: TestClient) -> Clock:  # type: ignore[type-arg]
    """The intake's limiter (burst 5, one every 10 s) and audit sums on one injected clock."""
    clock = Clock()
    intake: WebhookIntake = client.app.state.resources.intake
    intake.limiter = RejectionLimiter(burst=5, per_second=0.1, clock=clock)
    intake.rejections = RejectionAudit(window=60, clock=clock)
    return clock


@pytest.fixture
def secret_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    for module in (gitlab_hooks_module, gitea_hooks_module):  # every secret check: `verify`

        def spy(*args: Any, real: Any = module.verify, **kw: Any) -> str | None:
            seen.append(1)
            return real(*args, **kw)  # type: ignore[no-any-return]

        monkeypatch.setattr(module, "verify", spy)
    return seen


def deliver(intake: WebhookIntake, d: DataDir, source: str, token: str, iid: int = 7) -> int:
    return intake.handle(
        ForgeKind.GITLAB,
        wp.gitlab_headers(token),
        wp.body_of(wp.gitlab_mr(iid=iid)),
        source=source,
        request_id=uuid.uuid4().hex,
        hook_key=d.gitlab.hook_key,
    ).status


def rejected_records(d: DataDir) -> list[dict[str, Any]]:
    return [r for r in d.rt.audit.records() if r["event"] == "webhook.rejected"]


def test_over_the_limit_an_address_gets_429_without_a_secret_check_others_do_not(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
    clock: Clock,
    secret_checks: list[int],
) -> None:
    intake: WebhookIntake = client.app.state.resources.intake
    assert [deliver(intake, data_dir, "192.0.2.1", "wrong") for _ in range(5)] == [401] * 5
    assert len(secret_checks) == 5
    assert deliver(intake, data_dir, "192.0.2.1", "wrong") == 429
    assert deliver(intake, data_dir, "192.0.2.1", GITLAB_SECRET) == 429  # no check, so no telling
    assert len(secret_checks) == 5
    # another address is unaffected, rejected or not
    assert deliver(intake, data_dir, "192.0.2.2", GITLAB_SECRET, iid=1) == 202
    assert deliver(intake, data_dir, "192.0.2.2", "wrong") == 401
    # accepted deliveries spend nothing
    for iid in range(10, 30):
        assert deliver(intake, data_dir, "192.0.2.3", GITLAB_SECRET, iid=iid) == 202
    assert deliver(intake, data_dir, "192.0.2.3", "wrong") == 401
    # time refills the bucket: one more check after 10 s
    clock.t += 10
    assert deliver(intake, data_dir, "192.0.2.1", GITLAB_SECRET, iid=2) == 202
    assert deliver(intake, data_dir, "192.0.2.1", "wrong") == 401
    assert deliver(intake, data_dir, "192.0.2.1", "wrong") == 429
    assert len(secret_checks) == 5 + 2 + 20 + 1 + 2


def test_the_429_answer_says_when_to_retry(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
    clock: Clock,
) -> None:
    body = wp.body_of(wp.gitlab_mr())
    for _ in range(5):
        r = client.post(
            wp.hook_path(data_dir.gitlab), content=body, headers=wp.gitlab_headers("wrong")
        )
        assert r.status_code == 401
    r = client.post(wp.hook_path(data_dir.gitlab), content=body, headers=wp.gitlab_headers("x"))
    assert r.status_code == 429
    assert r.headers["retry-after"] == "10"
    assert "retry later" in r.json()["error"]


def test_a_flood_of_rejected_deliveries_writes_o1_audit_records_per_window(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
    clock: Clock,
) -> None:
    """200 deliveries with a wrong token from one address through the route: 5 refused 401,
    195 refused 429 (over the limit). Two records at once, two sums when the window closes."""
    before = len(rejected_records(data_dir))
    body = wp.body_of(wp.gitlab_mr())
    statuses = [
        client.post(
            wp.hook_path(data_dir.gitlab), content=body, headers=wp.gitlab_headers("wrong")
        ).status_code
        for _ in range(200)
    ]
    assert statuses == [401] * 5 + [429] * 195
    during = rejected_records(data_dir)[before:]
    assert [(r["details"]["reason"], r["details"]["count"]) for r in during] == [
        ("token missing or wrong", 1),
        ("rate limited", 1),
    ]
    assert {r["source"] for r in during} == {"testclient"}
    assert during[0]["target"] == f"repo:{data_dir.gitlab.id}"
    # the window closes; the next audit write of the intake (here an accepted delivery from
    # elsewhere) carries the sums
    clock.t += 60
    accepted = client.app.state.resources.intake.handle(
        ForgeKind.GITLAB,
        wp.gitlab_headers(GITLAB_SECRET),
        wp.body_of(wp.gitlab_mr(iid=99)),
        source="192.0.2.9",
        request_id="r",
        hook_key=data_dir.gitlab.hook_key,
    )
    assert accepted.status == 202
    records = rejected_records(data_dir)[before:]
    assert len(records) == 4
    assert sorted((r["details"]["reason"], r["details"]["count"]) for r in records[2:]) == [
        ("rate limited", 194),
        ("token missing or wrong", 4),
    ]
    assert sum(r["details"]["count"] for r in records) == 200


def test_open_sums_are_written_at_shutdown(data_dir: DataDir) -> None:
    app = create_app(data_dir.settings)
    with TestClient(app=app) as client:
        body = wp.body_of(wp.gitlab_mr())
        for _ in range(3):
            r = client.post("/hooks/gitlab", content=body, headers=wp.gitlab_headers("wrong"))
            assert r.status_code == 401
        assert [r["details"]["count"] for r in rejected_records(data_dir)] == [1]
    records = rejected_records(data_dir)
    assert [r["details"]["count"] for r in records] == [1, 2]
    assert records[0]["target"] == "webhook"  # the legacy URL names no repository
