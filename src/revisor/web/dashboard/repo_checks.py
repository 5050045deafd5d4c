"""Checking a repository against its Git server (on add, and the "Test connection" button), and
removing a repository.

A repository is checked through the same forge adapter a review uses (`forges.check_access`):
the path has the forge's shape, the token is accepted and may review, the project exists. Each
check writes a `repo.checked` audit record, passed or not.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor.audit import Event, Outcome
from revisor.domain import ForgeKind
from revisor.errors import AuditWriteError, RevisorError
from revisor.forges import ForgeTarget, check_access, project_path_problem
from revisor.onboarding import Actor
from revisor.store import connections, repos
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import OPERATE, require
from revisor.web.dashboard.pages import FormData, source, who
from revisor.web.resources import Resources


class RepoCheckFailed(RevisorError):
    """The Git server says this repository cannot be reviewed as registered; says why."""


def check_repository(
    request: Request[Any, Any, Any], resources: Resources, target: ForgeTarget, what: str
) -> str:
    """What the Git server says of `target` (a line for the admin), audited; raises
    `RepoCheckFailed` with the reason and the fix when it cannot be reviewed."""
    actor = who(request).actor
    problem = project_path_problem(target.kind, target.project)
    if problem is None:
        try:
            access = check_access(target, resources.egress(actor))
        except RevisorError as exc:
            problem = f"could not check {target.project} on {target.server}: {exc}"
        else:
            if not access.ok:
                problem = f"{access.detail}: {access.fix}" if access.fix else access.detail
    resources.audit.record(
        Event.REPO_CHECKED,
        actor=actor,
        target=what,
        outcome=Outcome.FAILURE if problem else Outcome.SUCCESS,
        source=source(request),
        server=target.server,
        project=target.project,
        ok=problem is None,
        detail=(problem or access.detail)[:300],
    )
    if problem:
        raise RepoCheckFailed(problem)
    return access.detail


def target_of(resources: Resources, repo: repos.Repo) -> ForgeTarget:
    token = repos.load_secrets(resources.dbs.get(), resources.keys, repo).token
    return ForgeTarget(repo.forge, repo.server, repo.project, token, repo.ca_file)


def new_target(
    forge: ForgeKind, server: str, project: str, token: str, ca_file: str | None
) -> ForgeTarget:
    return ForgeTarget(forge, server, project.strip().strip("/"), token, ca_file)


@post(
    "/repos/{repo_id:int}/test",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_test(
    request: Request[Any, Any, Any], resources: Resources, repo_id: FromPath[int]
) -> Template:
    from revisor.web.dashboard.repos import repo_page

    try:
        repo = repos.get(resources.dbs.get(), repo_id)
    except repos.RepoNotFound:
        raise NotFoundException(f"no repository {repo_id}") from None
    try:
        detail = check_repository(request, resources, target_of(resources, repo), f"repo:{repo_id}")
    except RepoCheckFailed as exc:
        return repo_page(request, resources, repo_id, status=400, error=f"Connection test: {exc}")
    return repo_page(request, resources, repo_id, message=f"Connection test passed: {detail}.")


@post(
    "/repos/{repo_id:int}/delete",
    guards=[require(OPERATE), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def repo_delete(
    request: Request[Any, Any, Any], resources: Resources, repo_id: FromPath[int], data: FormData
) -> Template:
    """Remove a repository (its jobs go with it) once its project path is typed to confirm."""
    from revisor.web.dashboard.repos import repo_page, repos_page_of

    db = resources.dbs.get()
    try:
        repo = repos.get(db, repo_id)
    except repos.RepoNotFound:
        raise NotFoundException(f"no repository {repo_id}") from None
    if data.get("confirm", "").strip() != repo.project:
        return repo_page(
            request,
            resources,
            repo_id,
            status=400,
            error=f"Type the project path ({repo.project}) to confirm the removal.",
        )

    if connections.hook_of(db, repo_id) is not None:  # Revisor made its webhook: delete it too
        from revisor.web.dashboard.onboard import onboarding

        try:
            onboarding(request, resources).disable(
                repo_id, Actor(who(request).actor, source(request))
            )
        except AuditWriteError:
            raise
        except RevisorError as exc:
            return repo_page(request, resources, repo_id, status=400, error=f"Not removed: {exc}")
        return repos_page_of(
            request,
            resources,
            message=f"Repository {repo.project} removed, with its jobs and its webhook.",
        )

    def audit(gone: repos.Repo) -> None:  # inside the delete's transaction
        resources.audit.record(
            Event.REPO_REMOVED,
            actor=who(request).actor,
            target=f"repo:{gone.id}",
            source=source(request),
            project=gone.project,
            server=gone.server,
        )

    repos.remove(db, repo_id, before_commit=audit)
    return repos_page_of(
        request, resources, message=f"Repository {repo.project} removed, with its jobs."
    )


routes = [repo_test, repo_delete]
