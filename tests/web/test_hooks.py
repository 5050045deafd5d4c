"""Per-repository hook URLs: a delivery is checked against ONE secret (its repository's), an
unknown key costs no secret check, and the legacy URLs keep working."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from revisor.domain import ForgeKind
from revisor.forges.gitea import hooks as gitea_hooks
from revisor.forges.gitlab import hooks as gitlab_hooks_module
from revisor.store import jobs, repos
from revisor.web import hook_urls
from revisor.web.app import create_app
from tests import webhook_payloads as wp
from tests.conftest import GITEA_SECRET, GITLAB_SECRET, SIGNING_SECRET, TOKEN, DataDir

OTHER_SECRET = "the-other-repositorys-secret-42"


@pytest.fixture
def client(data_dir: DataDir) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(data_dir.settings)) as c:
        yield c


def add_gitea(d: DataDir, project: str, secret: str) -> repos.Repo:
    return repos.add(
        d.rt.db,
        d.rt.keys,
        forge=ForgeKind.GITEA,
        server="https://gitea.test",
        project=project,
        token=TOKEN,
        webhook_secret=secret,
    )


@pytest.fixture
def secret_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The webhook secret of every secret check the intake makes, in order."""
    seen: list[str] = []
    for module in (gitlab_hooks_module, gitea_hooks):  # every secret check: `verify`

        def spy(*args: Any, real: Any = module.verify, **kw: Any) -> str | None:
            seen.append(args[2])
            return real(*args, **kw)  # type: ignore[no-any-return]

        monkeypatch.setattr(module, "verify", spy)
    return seen


def count_hmacs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the secret of every Gitea HMAC computed."""
    seen: list[str] = []
    real: Callable[[str, bytes], str] = gitea_hooks.sign

    def counting(secret: str, body: bytes) -> str:
        seen.append(secret)
        return real(secret, body)

    monkeypatch.setattr(gitea_hooks, "sign", counting)
    return seen


def test_each_repository_has_its_own_url_and_it_accepts_its_deliveries(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
) -> None:
    keys = {data_dir.gitlab.hook_key, data_dir.gitea.hook_key, data_dir.signed.hook_key}
    assert len(keys) == 3
    assert all(hook_urls.is_hook_key(k) for k in keys)
    body = wp.body_of(wp.gitlab_mr())
    r1 = client.post(
        wp.hook_path(data_dir.gitlab), content=body, headers=wp.gitlab_headers(GITLAB_SECRET)
    )
    signed_body = wp.body_of(wp.gitlab_mr(project="group/signed"))
    r2 = client.post(
        wp.hook_path(data_dir.signed),
        content=signed_body,
        headers=wp.gitlab_signed_headers(SIGNING_SECRET, signed_body),
    )
    gitea_body = wp.body_of(wp.gitea_pr())
    r3 = client.post(
        wp.hook_path(data_dir.gitea),
        content=gitea_body,
        headers=wp.gitea_headers(GITEA_SECRET, gitea_body, forgejo=True),
    )
    assert [r.status_code for r in (r1, r2, r3)] == [202, 202, 202], (r1.text, r2.text, r3.text)
    made = {jobs.get(data_dir.rt.db, r.json()["job_id"]).repo_id for r in (r1, r2, r3)}  # type: ignore[union-attr]
    assert made == {data_dir.gitlab.id, data_dir.signed.id, data_dir.gitea.id}


def test_a_delivery_signed_with_another_repositorys_secret_costs_one_check(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
    secret_checks: list[str],
) -> None:
    add_gitea(data_dir, "owner/other", OTHER_SECRET)
    body = wp.body_of(wp.gitea_pr())  # owner/app's payload, signed with owner/other's secret
    forged = client.post(
        wp.hook_path(data_dir.gitea), content=body, headers=wp.gitea_headers(OTHER_SECRET, body)
    )
    assert forged.status_code == 401
    assert secret_checks == [GITEA_SECRET]  # owner/other's secret was never tried
    assert jobs.list_jobs(data_dir.rt.db) == []
    rejected = [r for r in data_dir.rt.audit.records() if r["event"] == "webhook.rejected"]
    assert rejected[-1]["target"] == f"repo:{data_dir.gitea.id}"
    # the legacy URL, by contrast, tries every Gitea repository's secret
    secret_checks.clear()
    legacy = client.post("/hooks/gitea", content=body, headers=wp.gitea_headers(GITEA_SECRET, body))
    assert legacy.status_code == 202
    assert sorted(secret_checks) == sorted([GITEA_SECRET, OTHER_SECRET])


def test_fifty_gitea_repositories_one_hmac_per_delivery(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    added = [add_gitea(data_dir, f"owner/r{i}", f"secret-of-repository-{i:03}") for i in range(49)]
    target = added[17]
    body = wp.body_of(wp.gitea_pr(full_name="owner/r17"))
    good = wp.gitea_headers("secret-of-repository-017", body)
    bad = wp.gitea_headers("not-any-repositorys-secret", body)
    counted = count_hmacs(monkeypatch)
    assert client.post(wp.hook_path(target), content=body, headers=good).status_code == 202
    assert counted == ["secret-of-repository-017"]
    assert client.post(wp.hook_path(target), content=body, headers=bad).status_code == 401
    assert counted == ["secret-of-repository-017"] * 2
    counted.clear()
    assert client.post("/hooks/gitea", content=body, headers=bad).status_code == 401
    assert len(counted) == 50  # what the legacy URL costs


@pytest.mark.parametrize(
    "path",
    [
        "/hooks/gitea/AAAAAAAAAAAAAAAAAAAAAA",  # well-formed, not registered
        "/hooks/gitea/short",
        "/hooks/gitea/" + "A" * 65,
        "/hooks/gitea/has.a.dot.in.it.xxxxxxx",
        "GITLAB-KEY-ON-GITEA",
    ],
)
def test_an_unknown_hook_key_is_404_after_no_secret_check(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
    secret_checks: list[str],
    path: str,
) -> None:
    if path == "GITLAB-KEY-ON-GITEA":
        path = f"/hooks/gitea/{data_dir.gitlab.hook_key}"
    body = wp.body_of(wp.gitea_pr())
    r = client.post(path, content=body, headers=wp.gitea_headers(GITEA_SECRET, body))
    assert r.status_code == 404
    assert r.json() == {"error": "unknown hook URL"}
    assert secret_checks == []
    assert jobs.list_jobs(data_dir.rt.db) == []
    last = list(data_dir.rt.audit.records())[-1]
    assert (last["event"], last["details"]["reason"]) == ("webhook.rejected", "unknown hook URL")


def test_a_repositorys_secret_cannot_trigger_another_repository_through_its_url(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
) -> None:
    """The payload names group/signed, but the URL and the secret are group/app's."""
    body = wp.body_of(wp.gitlab_mr(project="group/signed"))
    r = client.post(
        wp.hook_path(data_dir.gitlab), content=body, headers=wp.gitlab_headers(GITLAB_SECRET)
    )
    assert r.status_code == 404
    assert "not registered at this hook URL" in r.json()["error"]
    assert jobs.list_jobs(data_dir.rt.db) == []


@pytest.mark.parametrize("forge", ["gitlab", "gitea"])
def test_the_legacy_urls_still_accept_registered_hooks(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
    forge: str,
) -> None:
    if forge == "gitlab":
        body = wp.body_of(wp.gitlab_mr())
        headers = wp.gitlab_headers(GITLAB_SECRET)
    else:
        body = wp.body_of(wp.gitea_pr())
        headers = wp.gitea_headers(GITEA_SECRET, body)
    assert client.post(f"/hooks/{forge}", content=body, headers=headers).status_code == 202


def test_a_new_repository_is_reachable_at_once_and_a_removed_one_is_gone(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
) -> None:
    repo = add_gitea(data_dir, "owner/new", OTHER_SECRET)
    body = wp.body_of(wp.gitea_pr(full_name="owner/new"))
    headers = wp.gitea_headers(OTHER_SECRET, body)
    assert client.post(wp.hook_path(repo), content=body, headers=headers).status_code == 202
    repos.remove(data_dir.rt.db, repo.id)
    again = wp.gitea_headers(OTHER_SECRET, body)
    assert client.post(wp.hook_path(repo), content=body, headers=again).status_code == 404


def test_a_refused_delivery_names_the_repository_it_was_for(
    client: TestClient,  # type: ignore[type-arg]
    data_dir: DataDir,
) -> None:
    """Its own URL names the repository; the legacy URL's payload claims one, which is named
    (as claimed) only when it is registered, so the admin knows whose secret is wrong."""
    body = wp.body_of(wp.gitlab_mr())  # group/app, registered
    own = client.post(
        wp.hook_path(data_dir.gitlab), content=body, headers=wp.gitlab_headers("wrong-secret")
    )
    legacy = client.post("/hooks/gitlab", content=body, headers=wp.gitlab_headers("wrong-secret"))
    stranger = wp.body_of(wp.gitlab_mr(project="someone/else"))
    unknown = client.post(
        "/hooks/gitlab", content=stranger, headers=wp.gitlab_headers("also-wrong-1")
    )
    assert (own.status_code, legacy.status_code, unknown.status_code) == (401, 401, 401)
    named = [
        (r["target"], r["details"].get("project"))
        for r in data_dir.rt.audit.records()
        if r["event"] == "webhook.rejected"
    ]
    assert (f"repo:{data_dir.gitlab.id}", "group/app") in named
    assert ("webhook", "group/app (claimed by the payload)") in named
    assert all("someone/else" not in str(p) for _, p in named)
