"""`revisor server add|list|remove`: which Git servers repositories may be registered on.

Allowing a server is an admin decision, taken here (the admin on the appliance) or on the
dashboard's Git servers page (the `admin` role). Each change is audited before it is made, so
a change never lands without its record.
"""

from __future__ import annotations

import argparse

from revisor.audit import Event
from revisor.cli import add_common, cli_actor
from revisor.cli.core import emit
from revisor.context import Context
from revisor.gitservers import canonical_server_url
from revisor.store import servers


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("server", help="allow the Git servers repositories may be registered on")
    ssub = sp.add_subparsers(dest="server_command", required=True, metavar="ACTION")
    p = ssub.add_parser("add", help="allow a Git server (and add it to the egress allowlist)")
    add_common(p, json_flag=True)
    p.add_argument("url", help="https://host[:port][/path-prefix] of the Git server")
    p.set_defaults(func=cmd_server_add)
    p = ssub.add_parser("list", help="list the allowed Git servers")
    add_common(p, json_flag=True)
    p.set_defaults(func=cmd_server_list)
    p = ssub.add_parser("remove", help="disallow a Git server no repository uses any more")
    add_common(p, json_flag=True)
    p.add_argument("server", help="its URL or id")
    p.set_defaults(func=cmd_server_remove)
    from revisor.cli.onboard import add_server_actions

    add_server_actions(ssub)


def cmd_server_add(args: argparse.Namespace, rt: Context) -> int:
    url = canonical_server_url(args.url)
    existing = servers.find(rt.db, url)
    if existing is None:
        rt.audit.record(Event.SERVER_ALLOWED, actor=cli_actor(), target=f"server:{url}")
        existing, _ = servers.allow(rt.db, url, added_by=cli_actor())
        text = f"allowed Git server {url}"
    else:
        text = f"{url} is already allowed; nothing changed"
    emit(args, existing.public(), text)
    return 0


def cmd_server_list(args: argparse.Namespace, rt: Context) -> int:
    found = servers.list_all(rt.db)
    text = "\n".join(f"{s.id:>4}  {s.url:<50} added by {s.added_by}" for s in found)
    emit(args, [s.public() for s in found], text or "no Git servers allowed yet")
    return 0


def cmd_server_remove(args: argparse.Namespace, rt: Context) -> int:
    server = servers.check_removable(rt.db, args.server)
    rt.audit.record(Event.SERVER_REMOVED, actor=cli_actor(), target=f"server:{server.url}")
    servers.remove(rt.db, args.server)
    emit(args, server.public(), f"removed Git server {server.url}")
    return 0
