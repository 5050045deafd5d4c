"""The onboarding clients (`forges.open_admin`) against the strict fakes: the token, project
lists across pages, webhooks created with the right events and secret, test deliveries that
really arrive, and what the servers refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.errors import ForgeError
from revisor.forges import ServerTarget, open_admin
from revisor.forges.base import ForgeRefused
from tests.fakes.forge_admin import FakeGiteaAdmin, FakeGitLabAdmin
from tests.fakes.model import FakeFile
from tests.fakes.server import FakeServer, Request, Response, json_response

GL_TOKEN = "glpat-admin-token-0123456789"
GT_TOKEN = "gitea-admin-token-0123456789"


class Receiver(FakeServer):
    """Stands in for Revisor's webhook endpoint: records each delivery."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Request] = []
        self.route("POST", r"/hooks/.*", self._hook)

    def _hook(self, request: Request) -> Response:
        self.got.append(request)
        return json_response({"ignored": "test"}, 200)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r  # type: ignore[misc]


@pytest.fixture
def gitlab() -> Iterator[FakeGitLabAdmin]:
    fake = FakeGitLabAdmin(token=GL_TOKEN)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gitea() -> Iterator[FakeGiteaAdmin]:
    fake = FakeGiteaAdmin(token=GT_TOKEN)
    fake.start()
    yield fake
    fake.stop()


def gl_admin(fake: FakeGitLabAdmin, token: str = GL_TOKEN):  # type: ignore[no-untyped-def]
    return open_admin(ServerTarget(ForgeKind.GITLAB, fake.url, token), Egress.from_urls([fake.url]))


def gt_admin(fake: FakeGiteaAdmin, token: str = GT_TOKEN):  # type: ignore[no-untyped-def]
    return open_admin(ServerTarget(ForgeKind.GITEA, fake.url, token), Egress.from_urls([fake.url]))


def test_gitlab_token_needs_the_api_scope(gitlab: FakeGitLabAdmin) -> None:
    admin = gl_admin(gitlab)
    assert "revisor-bot" in admin.whoami()
    gitlab.scopes = {"read_api"}
    with pytest.raises(ForgeError, match="read_api"):
        admin.whoami()
    with pytest.raises(ForgeError, match="401"):
        gl_admin(gitlab, "wrong").whoami()
    admin.close()


def test_gitlab_lists_maintained_projects_across_pages_and_groups(gitlab: FakeGitLabAdmin) -> None:
    for i in range(130):
        gitlab.add_project(f"platform/svc-{i:03d}")
    gitlab.add_project("platform/infra/net")
    gitlab.add_project("platform/readonly", access_level=30)
    gitlab.add_project("other/app")
    admin = gl_admin(gitlab)
    everything = admin.list_projects()
    assert len(everything) == 132
    assert "platform/readonly" not in everything
    group = admin.list_projects("platform")
    assert "platform/infra/net" in group
    assert "other/app" not in group
    assert len(group) == 131
    with pytest.raises(ForgeRefused, match="404"):
        admin.list_projects("nope")
    admin.close()


def test_gitlab_project_hook_with_events_secret_test_delivery_and_removal(
    gitlab: FakeGitLabAdmin, receiver: Receiver
) -> None:
    gitlab.add_project("platform/app")
    admin = gl_admin(gitlab)
    url = f"{receiver.url}/hooks/gitlab/key123"
    hook_id = admin.create_hook("platform/app", url, "s3cret-hook-value")
    hook = gitlab.hooks[int(hook_id)]
    assert (hook["url"], hook["token"]) == (url, "s3cret-hook-value")
    assert (hook["merge_requests_events"], hook["note_events"], hook["push_events"]) == (
        True,
        True,
        False,
    )
    with pytest.raises(ForgeRefused, match="merge requests"):  # GitLab needs one to test with
        admin.test_hook("platform/app", hook_id)
    gitlab.add_merge_request("platform/app", 3, files=[FakeFile("a.py", "@@ -1 +1 @@\n-a\n+b\n")])
    admin.test_hook("platform/app", hook_id)
    (delivery,) = receiver.got
    assert delivery.headers["x-gitlab-token"] == "s3cret-hook-value"
    assert json.loads(delivery.body)["project"]["path_with_namespace"] == "platform/app"
    admin.delete_hook("platform/app", hook_id)
    assert not gitlab.hooks
    admin.delete_hook("platform/app", hook_id)  # already gone: fine
    admin.close()


def test_gitlab_refuses_hooks_to_a_developer(gitlab: FakeGitLabAdmin) -> None:
    gitlab.add_project("platform/app", access_level=30)
    admin = gl_admin(gitlab)
    with pytest.raises(ForgeRefused, match="403"):
        admin.create_hook("platform/app", "http://127.0.0.1:9/hooks/gitlab/k", "s")
    admin.close()


def test_gitea_lists_admin_repositories_past_its_page_cap(gitea: FakeGiteaAdmin) -> None:
    for i in range(70):
        gitea.add_repo(f"org/r{i:02d}")
    gitea.add_repo("org/read-only", admin=False)
    gitea.add_repo("alice/tool")
    admin = gt_admin(gitea)
    assert len(admin.list_projects()) == 71  # 50 a page at most: two pages
    assert len(admin.list_projects("org")) == 70
    with pytest.raises(ForgeRefused, match="404"):
        admin.list_projects("nope")
    admin.close()


def test_gitea_repository_hook_signed_test_delivery_and_removal(
    gitea: FakeGiteaAdmin, receiver: Receiver
) -> None:
    import hashlib
    import hmac

    gitea.add_repo("org/app")
    admin = gt_admin(gitea)
    assert admin.whoami() == "revisor-bot"
    url = f"{receiver.url}/hooks/gitea/key456"
    hook_id = admin.create_hook("org/app", url, "gitea-hook-secret")
    hook = gitea.hooks[int(hook_id)]
    assert hook["type"] == "gitea"
    assert hook["active"] is True
    assert set(hook["events"]) == {"pull_request", "issue_comment"}
    admin.test_hook("org/app", hook_id)
    (delivery,) = receiver.got
    expected = hmac.new(b"gitea-hook-secret", delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["x-gitea-signature"] == expected
    admin.delete_hook("org/app", hook_id)
    assert not gitea.hooks
    admin.close()


def test_gitea_refuses_hooks_without_admin_rights_or_scope(gitea: FakeGiteaAdmin) -> None:
    gitea.add_repo("org/app", admin=False)
    gitea.add_repo("org/mine")
    admin = gt_admin(gitea)
    with pytest.raises(ForgeRefused, match="403"):
        admin.create_hook("org/app", "http://127.0.0.1:9/hooks/gitea/k", "s")
    gitea.scopes = {"read:user"}
    with pytest.raises(ForgeRefused, match="403"):
        admin.create_hook("org/mine", "http://127.0.0.1:9/hooks/gitea/k", "s")
    admin.close()


def test_the_fakes_refuse_what_the_servers_refuse(
    gitlab: FakeGitLabAdmin, gitea: FakeGiteaAdmin
) -> None:
    import httpx

    gitlab.add_project("g/app")
    gitea.add_repo("o/app")
    gl = {"PRIVATE-TOKEN": GL_TOKEN}
    hooks = f"{gitlab.url}/api/v4/projects/g%2Fapp/hooks"
    assert httpx.post(hooks, headers=gl, json={}).status_code == 400  # url is missing
    assert httpx.post(hooks, headers=gl, json={"url": "ftp://x"}).status_code == 422
    bad_flag = {"url": "http://x", "note_events": "yes"}
    assert httpx.post(hooks, headers=gl, json=bad_flag).status_code == 400
    gt = {"Authorization": f"token {GT_TOKEN}"}
    hooks = f"{gitea.url}/api/v1/repos/o/app/hooks"
    ok = {"type": "gitea", "config": {"url": "http://x", "content_type": "json"}}
    assert httpx.post(hooks, headers=gt, json={"config": ok["config"]}).status_code == 422
    assert httpx.post(hooks, headers=gt, json={**ok, "type": "nope"}).status_code == 422
    no_url = {**ok, "config": {"content_type": "json"}}
    assert httpx.post(hooks, headers=gt, json=no_url).status_code == 422
    assert httpx.post(hooks, headers=gt, json={**ok, "events": ["merge"]}).status_code == 422
    assert httpx.post(hooks, headers=gt, json=ok).status_code == 201


def test_gitlab_group_hook_created_tested_and_deleted_by_an_owner(
    gitlab: FakeGitLabAdmin, receiver: Receiver
) -> None:
    gitlab.add_project("platform/app")
    admin = gl_admin(gitlab)
    url = f"{receiver.url}/hooks/gitlab"
    hook_id = admin.create_group_hook("platform", url, "group-secret")
    hook = gitlab.hooks[int(hook_id)]
    assert (hook["group"], hook["token"], hook["merge_requests_events"]) == (
        "platform",
        "group-secret",
        True,
    )
    with pytest.raises(ForgeRefused, match="merge requests"):
        admin.test_group_hook("platform", hook_id)
    gitlab.add_merge_request("platform/app", 2, files=[FakeFile("a.py", "@@ -1 +1 @@\n-a\n+b\n")])
    admin.test_group_hook("platform", hook_id)
    assert receiver.got[0].headers["x-gitlab-token"] == "group-secret"
    admin.delete_group_hook("platform", hook_id)
    assert not gitlab.hooks
    gitlab.not_owner.add("platform")
    with pytest.raises(ForgeRefused, match="403"):
        admin.create_group_hook("platform", url, "s")
    with pytest.raises(ForgeRefused, match="404"):
        admin.create_group_hook("nope", url, "s")
    admin.close()


def test_gitea_organisation_hook_needs_an_owner_and_has_no_test(gitea: FakeGiteaAdmin) -> None:
    gitea.add_repo("org/app")
    admin = gt_admin(gitea)
    with pytest.raises(ForgeRefused, match="403"):  # write:organization missing
        admin.create_group_hook("org", "http://127.0.0.1:9/hooks/gitea", "s")
    gitea.scopes.add("write:organization")
    hook_id = admin.create_group_hook("org", "http://127.0.0.1:9/hooks/gitea", "s")
    assert gitea.hooks[int(hook_id)]["org"] == "org"
    with pytest.raises(ForgeError, match="no test delivery"):
        admin.test_group_hook("org", hook_id)
    admin.delete_group_hook("org", hook_id)
    assert not gitea.hooks
    gitea.owned_orgs = set()
    with pytest.raises(ForgeRefused, match="403"):
        admin.create_group_hook("org", "http://127.0.0.1:9/hooks/gitea", "s")
    admin.close()
