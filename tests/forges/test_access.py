"""`forges.check_access`: what `revisor doctor` learns of a token, asked through the adapter.

Against the doctor's fake API on 127.0.0.1 (`tests/ops/conftest.py`), without a data dir.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.errors import EgressDenied
from revisor.forges import ForgeTarget, check_access
from tests.ops.conftest import TOKEN, FakeForgeApi


@pytest.fixture
def api() -> Iterator[FakeForgeApi]:
    fake = FakeForgeApi()
    fake.start()
    yield fake
    fake.stop()


def target(api: FakeForgeApi, kind: ForgeKind, project: str = "group/app") -> ForgeTarget:
    return ForgeTarget(kind, api.url, project, TOKEN)


def test_gitlab_scope_project_and_the_servers_clock(api: FakeForgeApi) -> None:
    egress = Egress.from_urls([api.url])
    access = check_access(target(api, ForgeKind.GITLAB), egress)
    assert access.ok, access
    assert access.detail == "group/app reachable, token scope api"
    assert access.server_time is not None  # from the Date header of the adapter's answers
    api.scopes = ["read_api"]
    narrow = check_access(target(api, ForgeKind.GITLAB), egress)
    assert not narrow.ok
    assert "read_api" in narrow.detail
    api.token = "rotated"
    revoked = check_access(target(api, ForgeKind.GITLAB), egress)
    assert "HTTP 401" in revoked.detail
    assert revoked.server_time is not None  # a refusal still tells the server's clock


def test_gitea_write_access(api: FakeForgeApi) -> None:
    egress = Egress.from_urls([api.url])
    assert check_access(target(api, ForgeKind.GITEA), egress).ok
    api.gitea_push = False
    access = check_access(target(api, ForgeKind.GITEA), egress)
    assert not access.ok
    assert "collaborator with write access" in access.fix
    unknown = check_access(target(api, ForgeKind.GITEA, "group/other"), egress)
    assert unknown.detail == "repository group/other: HTTP 404"


@pytest.mark.parametrize("kind", list(ForgeKind))
def test_a_server_off_the_allowlist_is_refused_before_any_request(
    api: FakeForgeApi, kind: ForgeKind
) -> None:
    with pytest.raises(EgressDenied):
        check_access(target(api, kind), Egress.from_urls(["https://elsewhere.example"]))
    assert api.requests == []


def test_the_token_never_shows_in_the_target() -> None:
    assert TOKEN not in repr(ForgeTarget(ForgeKind.GITLAB, "https://g", "a/b", TOKEN))
