"""The Git servers page: which servers repositories may be registered on (see store/servers.py).

Anyone signed in may see the list (maintainers need it to add repositories); only admins change
it, and each change is audited before it is made.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from revisor.audit import Event
from revisor.errors import RevisorError
from revisor.gitservers import canonical_server_url
from revisor.store import connections, servers
from revisor.web.auth.csrf import csrf_guard
from revisor.web.auth.guards import ADMIN, READ, require
from revisor.web.dashboard.pages import FormData, fmt_time, page, source, who
from revisor.web.resources import Dbs, Resources


def _servers_page(
    request: Request[Any, Any, Any], dbs: Dbs, *, status: int = 200, **extra: Any
) -> Template:
    rows = servers.list_all(dbs.get())
    return page(
        request,
        "servers.html",
        status=status,
        servers=rows,
        connected=connections.connected(dbs.get()),
        fmt_time=fmt_time,
        **extra,
    )


@get("/servers", guards=[require(READ)], sync_to_thread=True, include_in_schema=False)
def servers_page(request: Request[Any, Any, Any], dbs: Dbs) -> Template:
    return _servers_page(request, dbs)


@post(
    "/servers/new",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def server_add(request: Request[Any, Any, Any], resources: Resources, data: FormData) -> Template:
    dbs = resources.dbs
    db = dbs.get()
    typed = data.get("url", "")
    try:
        url = canonical_server_url(typed)
    except RevisorError as exc:
        return _servers_page(request, dbs, status=400, error=str(exc), typed=typed)
    if servers.find(db, url) is not None:
        return _servers_page(request, dbs, message=f"{url} is already allowed.")
    actor = who(request).actor
    resources.audit.record(
        Event.SERVER_ALLOWED, actor=actor, target=f"server:{url}", source=source(request)
    )
    servers.allow(db, url, added_by=actor)
    return _servers_page(request, dbs, message=f"Git server {url} allowed.")


@post(
    "/servers/{server_id:int}/remove",
    guards=[require(ADMIN), csrf_guard],
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
)
def server_remove(
    request: Request[Any, Any, Any], resources: Resources, server_id: FromPath[int]
) -> Template:
    dbs = resources.dbs
    db = dbs.get()
    try:
        server = servers.check_removable(db, str(server_id))
    except servers.ServerInUse as exc:
        return _servers_page(request, dbs, status=409, error=str(exc))
    except servers.ServerNotAllowed:
        raise NotFoundException(f"no Git server {server_id}") from None
    resources.audit.record(
        Event.SERVER_REMOVED,
        actor=who(request).actor,
        target=f"server:{server.url}",
        source=source(request),
    )
    servers.remove(db, str(server_id))
    return _servers_page(request, dbs, message=f"Git server {server.url} removed.")


routes = [servers_page, server_add, server_remove]
