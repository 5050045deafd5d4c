"""Forge adapters: the `Forge` protocol and `open_forge()`, which picks the adapter.

Only `gitlab.py` imports python-gitlab and only `gitea.py` speaks Gitea's API; the rest of
Revisor sees `Forge` and the types of `revisor.domain`.
"""

from __future__ import annotations

from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.forges.base import Forge, RetryPolicy
from revisor.store.repos import Repo, RepoSecrets

__all__ = ["Forge", "RetryPolicy", "open_forge"]


def open_forge(
    repo: Repo,
    secrets: RepoSecrets,
    egress: Egress,
    *,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
) -> Forge:
    """The adapter for `repo`'s forge, talking only to `repo.server` through `egress`."""
    policy = retry or RetryPolicy()
    if repo.forge is ForgeKind.GITLAB:
        from revisor.forges.gitlab import GitLabForge

        return GitLabForge(repo, secrets.token, egress, timeout=timeout, retry=policy)
    if repo.forge is ForgeKind.GITEA:
        from revisor.forges.gitea import GiteaForge

        return GiteaForge(repo, secrets.token, egress, timeout=timeout, retry=policy)
    raise AssertionError(f"unknown forge kind {repo.forge!r}")
