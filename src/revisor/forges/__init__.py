"""The forge seam: everything forge-specific lives in one package per forge.

`gitlab/` (python-gitlab) and `gitea/` (httpx, also Forgejo) each hold the REST adapter
(`api.py`), the webhook rules (`hooks.py`) and the doctor's access checks (`access.py`). The rest
of Revisor asks through three entry points, which are the only place that picks a forge by kind:

- `open_forge(target, egress)`: the `Forge` the worker reviews through;
- `hooks_for(kind)`: the `ForgeHooks` the web layer authenticates, classifies and dedups with;
- `check_access(target, egress)`: what `revisor doctor` reports about a token and a project.

Forges receive a plain `ForgeTarget`, never a database row, and import neither the store nor the
review engine (the diff parser and the comment markers are in `revisor.text`).
"""

from __future__ import annotations

from revisor.domain import ForgeKind
from revisor.egress import Egress
from revisor.forges.admin import ForgeAdmin, ServerTarget
from revisor.forges.base import Access, Forge, ForgeTarget, MergeRequestLinks, RetryPolicy
from revisor.forges.hooks import ForgeHooks, Ignored, PayloadError, Trigger

__all__ = [
    "Access",
    "Forge",
    "ForgeAdmin",
    "ForgeHooks",
    "ForgeTarget",
    "Ignored",
    "MergeRequestLinks",
    "PayloadError",
    "RetryPolicy",
    "ServerTarget",
    "Trigger",
    "check_access",
    "hooks_for",
    "merge_request_links",
    "open_admin",
    "open_forge",
    "project_path_problem",
]

ONE_TRY = RetryPolicy(attempts=1)


def open_forge(
    target: ForgeTarget,
    egress: Egress,
    *,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
) -> Forge:
    """The adapter for `target`'s forge, talking only to `target.server` through `egress`."""
    policy = retry or RetryPolicy()
    if target.kind is ForgeKind.GITLAB:
        from revisor.forges.gitlab.api import GitLabForge

        return GitLabForge(target, egress, timeout=timeout, retry=policy)
    if target.kind is ForgeKind.GITEA:
        from revisor.forges.gitea.api import GiteaForge

        return GiteaForge(target, egress, timeout=timeout, retry=policy)
    raise AssertionError(f"unknown forge kind {target.kind!r}")


_HOOKS: dict[ForgeKind, ForgeHooks] = {}


def hooks_for(kind: ForgeKind) -> ForgeHooks:
    """The webhook rules of `kind`'s forge (looked up once per kind: the intake asks per
    delivery)."""
    found = _HOOKS.get(kind)
    if found is None:
        found = _HOOKS[kind] = _load_hooks(kind)
    return found


def _load_hooks(kind: ForgeKind) -> ForgeHooks:
    if kind is ForgeKind.GITLAB:
        from revisor.forges.gitlab import hooks as gitlab_hooks

        return gitlab_hooks.HOOKS
    if kind is ForgeKind.GITEA:
        from revisor.forges.gitea import hooks as gitea_hooks

        return gitea_hooks.HOOKS
    raise AssertionError(f"unknown forge kind {kind!r}")


def check_access(target: ForgeTarget, egress: Egress, *, timeout: float = 5.0) -> Access:
    """Whether `target.token` can review in `target.project`, asked once through the same
    adapter the worker uses. Raises `EgressDenied` for a server off the allowlist and
    `ForgeUnavailable` / `ForgeError` when the server cannot be reached."""
    if target.kind is ForgeKind.GITLAB:
        from revisor.forges.gitlab import access as gitlab_access
        from revisor.forges.gitlab.api import GitLabForge

        lab = GitLabForge(target, egress, timeout=timeout, retry=ONE_TRY)
        return gitlab_access.check_access(lab, target.project)
    if target.kind is ForgeKind.GITEA:
        from revisor.forges.gitea import access as gitea_access
        from revisor.forges.gitea.api import GiteaForge

        tea = GiteaForge(target, egress, timeout=timeout, retry=ONE_TRY)
        try:
            return gitea_access.check_access(tea, target.project)
        finally:
            tea.close()
    raise AssertionError(f"unknown forge kind {target.kind!r}")


def merge_request_links(
    kind: ForgeKind, server: str, project: str, number: int
) -> MergeRequestLinks:
    """The merge request's pages on `server` (the registered, allowed URL)."""
    if kind is ForgeKind.GITLAB:
        from revisor.forges.gitlab import links as gitlab_links

        return gitlab_links.merge_request_links(server, project, number)
    if kind is ForgeKind.GITEA:
        from revisor.forges.gitea import links as gitea_links

        return gitea_links.merge_request_links(server, project, number)
    raise AssertionError(f"unknown forge kind {kind!r}")


def project_path_problem(kind: ForgeKind, project: str) -> str | None:
    """Why `project` cannot name a project on `kind`'s forge (its own path rules), or None."""
    if kind is ForgeKind.GITLAB:
        from revisor.forges.gitlab import access as gitlab_access

        return gitlab_access.project_path_problem(project)
    if kind is ForgeKind.GITEA:
        from revisor.forges.gitea import access as gitea_access

        return gitea_access.project_path_problem(project)
    raise AssertionError(f"unknown forge kind {kind!r}")


def open_admin(target: ServerTarget, egress: Egress) -> ForgeAdmin:
    """The onboarding client for `target`'s forge (hooks and project lists); close it after."""
    if target.kind is ForgeKind.GITLAB:
        from revisor.forges.gitlab.admin import GitLabAdmin

        return GitLabAdmin(target, egress)
    if target.kind is ForgeKind.GITEA:
        from revisor.forges.gitea.admin import GiteaAdmin

        return GiteaAdmin(target, egress)
    raise AssertionError(f"unknown forge kind {target.kind!r}")
