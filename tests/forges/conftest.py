"""Fixtures: the strict fakes running on 127.0.0.1 and adapters pointed at them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests/` has no __init__.py, so make `tests.fakes` importable however pytest is started.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from revisor.domain import ForgeKind  # noqa: E402
from revisor.egress import Egress  # noqa: E402
from revisor.forges.base import ForgeTarget, RetryPolicy  # noqa: E402
from revisor.forges.gitea.api import GiteaForge  # noqa: E402
from revisor.forges.gitlab.api import GitLabForge  # noqa: E402
from tests.fakes import FakeGitea, FakeGitLab  # noqa: E402

FAST = RetryPolicy(attempts=3, backoff=0.01, max_wait=1.0)


def make_repo(
    kind: ForgeKind, url: str, project: str, ca_file: str | None = None, token: str = ""
) -> ForgeTarget:
    return ForgeTarget(kind, url, project, token, ca_file)


@pytest.fixture
def fake_gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_gitea() -> Iterator[FakeGitea]:
    fake = FakeGitea()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gitlab_forge(fake_gitlab: FakeGitLab) -> GitLabForge:
    repo = make_repo(ForgeKind.GITLAB, fake_gitlab.url, "group/app", token=fake_gitlab.token or "")
    return GitLabForge(repo, Egress.from_urls([fake_gitlab.url]), timeout=2, retry=FAST)


@pytest.fixture
def gitea_forge(fake_gitea: FakeGitea) -> Iterator[GiteaForge]:
    repo = make_repo(ForgeKind.GITEA, fake_gitea.url, "owner/app", token=fake_gitea.token or "")
    forge = GiteaForge(repo, Egress.from_urls([fake_gitea.url]), timeout=2, retry=FAST)
    yield forge
    forge.close()
