"""Onboarding on the dashboard (the work is `revisor/onboarding.py`): a Git server's page where
an admin connects it once (kind, admin or group token, CA bundle), tests the connection, sees
the projects the token manages and enables review for a project or a whole group, each with
its webhook created and verified. Admins only: the token can create webhooks everywhere it
reaches. Disabling is the repository page's "Remove" (which deletes a webhook Revisor made).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor.domain import ForgeKind
from revisor.errors import AuditWriteError, RevisorError
from revisor.gitservers import CA_DIR_NAME, confined_ca_file
from revisor.onboarding import Actor, Onboarding
from revisor.store import connections, servers
from revisor.web import hook_urls
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import ADMIN, require
from revisor.web.dashboard.pages import FormData, fmt_time, page, source, who
from revisor.web.resources import Resources


def onboarding(request: Request[Any, Any, Any], resources: Resources) -> Onboarding:
    actor = who(request).actor
    return Onboarding(
        resources.dbs.get(),
        resources.keys,
        resources.audit,
        resources.egress(actor),
        resources.settings.public_base_url,
        hook_url=hook_urls.hook_url,
        group_hook_url=hook_urls.group_hook_url,
    )


def _actor(request: Request[Any, Any, Any]) -> Actor:
    return Actor(who(request).actor, source(request))


def _server(resources: Resources, server_id: int) -> servers.GitServer:
    found = next((s for s in servers.list_all(resources.dbs.get()) if s.id == server_id), None)
    if found is None:
        raise NotFoundException(f"no Git server {server_id}")
    return found


def _server_page(
    request: Request[Any, Any, Any],
    resources: Resources,
    server_id: int,
    *,
    status: int = 200,
    group: str = "",
    **extra: Any,
) -> Template:
    server = _server(resources, server_id)
    db = resources.dbs.get()
    connection = connections.connected(db).get(server.url)
    projects: list[tuple[str, Any]] = []
    list_error = ""
    if connection is not None and "projects" not in extra:
        try:
            projects = onboarding(request, resources).projects(server.url, group or None)
        except RevisorError as exc:
            list_error = f"Could not list the projects: {exc}"
    return page(
        request,
        "server.html",
        status=status,
        server=server,
        connection=connection,
        projects=extra.pop("projects", projects),
        list_error=list_error,
        group=group,
        forges=[f.value for f in ForgeKind],
        ca_dir=resources.settings.data_dir / CA_DIR_NAME,
        deliveries=connections.last_deliveries(db),
        hooks=connections.hooks(db),
        group_hooks=connections.group_hooks(db, server.url),
        repo_groups=connections.group_memberships(db),
        fmt_time=fmt_time,
        **extra,
    )


@get(
    "/servers/{server_id:int}",
    guards=[require(ADMIN)],
    sync_to_thread=True,
    include_in_schema=False,
)
def server_detail(
    request: Request[Any, Any, Any], resources: Resources, server_id: FromPath[int]
) -> Template:
    group = request.query_params.get("group", "").strip()
    return _server_page(request, resources, server_id, group=group)


@post(
    "/servers/{server_id:int}/connect",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def server_connect(
    request: Request[Any, Any, Any], resources: Resources, server_id: FromPath[int], data: FormData
) -> Template:
    server = _server(resources, server_id)
    typed = {k: data.get(k, "") for k in ("kind", "ca_file")}
    try:
        kind = ForgeKind(data.get("kind", ""))
        ca = data.get("ca_file", "").strip()
        ca_file = confined_ca_file(ca, resources.settings.data_dir) if ca else None
        user = onboarding(request, resources).connect(
            server.url, kind, data.get("token", ""), ca_file, _actor(request)
        )
    except AuditWriteError:
        raise
    except (ValueError, RevisorError) as exc:
        return _server_page(
            request, resources, server_id, status=400, error=f"Not connected: {exc}",
            form=typed, projects=[],
        )  # fmt: skip
    return _server_page(request, resources, server_id, message=f"Connected as {user}.")


@post(
    "/servers/{server_id:int}/test",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def server_test(
    request: Request[Any, Any, Any], resources: Resources, server_id: FromPath[int]
) -> Template:
    server = _server(resources, server_id)
    try:
        user = onboarding(request, resources).test(server.url, _actor(request))
    except AuditWriteError:
        raise
    except RevisorError as exc:
        return _server_page(
            request, resources, server_id, status=400, error=f"Connection test: {exc}", projects=[]
        )
    return _server_page(
        request, resources, server_id, message=f"Connection test passed: the token is {user}."
    )


@post(
    "/servers/{server_id:int}/enable",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def server_enable(
    request: Request[Any, Any, Any], resources: Resources, server_id: FromPath[int], data: FormData
) -> Template:
    """Enable review for `project`, or for every project of `group`."""
    server = _server(resources, server_id)
    ob, actor = onboarding(request, resources), _actor(request)
    project, group = data.get("project", "").strip(), data.get("group", "").strip()
    try:
        if group:
            one_hook = data.get("group_hook") == "on"
            done, failed = ob.enable_group(server.url, group, actor, group_hook=one_hook)
        else:
            done, failed = [ob.enable(server.url, project, actor)], []
    except AuditWriteError:
        raise
    except RevisorError as exc:
        return _server_page(
            request, resources, server_id, status=400, error=f"Not enabled: {exc}", group=group
        )
    lines = [f"Enabled {e.repo.project}: {e.note}." for e in done]
    lines += [f"Not enabled {p}: {why}" for p, why in failed]
    return _server_page(
        request,
        resources,
        server_id,
        status=200 if not failed else 400,
        group=group,
        message=" ".join(lines) or "Nothing to enable: every project is already reviewed.",
    )


@post(
    "/servers/{server_id:int}/disable-group",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def server_disable_group(
    request: Request[Any, Any, Any], resources: Resources, server_id: FromPath[int], data: FormData
) -> Template:
    server = _server(resources, server_id)
    group = data.get("group", "").strip()
    try:
        gone = onboarding(request, resources).disable_group(server.url, group, _actor(request))
    except AuditWriteError:
        raise
    except RevisorError as exc:
        return _server_page(request, resources, server_id, status=400, error=f"Not disabled: {exc}")
    names = ", ".join(r.project for r in gone) or "no project"
    return _server_page(
        request,
        resources,
        server_id,
        message=f"Group hook on {group} deleted; {names} no longer reviewed.",
    )


routes = [server_detail, server_connect, server_test, server_enable, server_disable_group]
