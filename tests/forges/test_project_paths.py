"""Each forge's own rule for what a project path looks like, checked before any request."""

from __future__ import annotations

import pytest

from revisor.domain import ForgeKind
from revisor.forges import project_path_problem


@pytest.mark.parametrize("path", ["group/app", "a/b/c/d", "g_1/app.v2", "Group-x/App"])
def test_gitlab_accepts_group_paths(path: str) -> None:
    assert project_path_problem(ForgeKind.GITLAB, path) is None


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("app", "has no group"),
        ("group//app", "not a valid"),
        ("group/app.git", "not a valid"),
        ("group/-app", "not a valid"),
        ("group/a pp", "not a valid"),
        ("/".join(["g"] * 22), "at most 20"),
    ],
)
def test_gitlab_refuses_other_shapes(path: str, why: str) -> None:
    assert why in (project_path_problem(ForgeKind.GITLAB, path) or "")


@pytest.mark.parametrize("path", ["owner/repo", "org.x/repo_1"])
def test_gitea_accepts_owner_and_repository(path: str) -> None:
    assert project_path_problem(ForgeKind.GITEA, path) is None


@pytest.mark.parametrize("path", ["repo", "a/b/c", "owner/..", "owner/re po", "owner/"])
def test_gitea_refuses_other_shapes(path: str) -> None:
    assert project_path_problem(ForgeKind.GITEA, path) is not None
