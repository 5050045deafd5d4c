"""Onboarding from the command line (`revisor/onboarding.py` does the work):

    revisor server connect URL --kind gitlab --token-file F [--ca-file P]
    revisor server test URL
    revisor server projects URL [--group G]
    revisor repo enable --server URL PROJECT... | --group G [--group-hook]
    revisor repo disable ID
    revisor repo disable-group --server URL --group G

`server connect` allows the server too (the CLI is the appliance's admin), checks the admin or
group token with it and stores it sealed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from revisor.audit import Event
from revisor.cli import add_common, cli_actor
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.egress import audit_refusals
from revisor.errors import ConfigError
from revisor.gitservers import canonical_server_url
from revisor.onboarding import Actor, Onboarding
from revisor.outbound import configured_egress
from revisor.secrets import read_secret_file
from revisor.store import servers
from revisor.web.hook_urls import group_hook_url, hook_url


def add_server_actions(ssub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = ssub.add_parser("connect", help="connect a Git server with an admin or group token")
    add_common(p, json_flag=True)
    p.add_argument("url")
    p.add_argument("--kind", required=True, choices=[f.value for f in ForgeKind])
    p.add_argument("--token-file", required=True, help="file holding the admin or group token")
    p.add_argument("--ca-file", help="CA bundle of a Git server with an internal CA")
    p.set_defaults(func=cmd_server_connect)
    p = ssub.add_parser("test", help="check a connected server's token")
    add_common(p, json_flag=True)
    p.add_argument("url")
    p.set_defaults(func=cmd_server_test)
    p = ssub.add_parser("projects", help="list the projects a connected server's token manages")
    add_common(p, json_flag=True)
    p.add_argument("url")
    p.add_argument("--group", help="only this group (GitLab) or organisation (Gitea)")
    p.set_defaults(func=cmd_server_projects)


def add_repo_actions(rsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = rsub.add_parser(
        "enable", help="review projects of a connected server: register, create the webhook"
    )
    add_common(p, json_flag=True)
    p.add_argument("--server", required=True, help="a connected Git server")
    p.add_argument("projects", nargs="*", help="group/project (GitLab) or owner/repo (Gitea)")
    p.add_argument("--group", help="every project of this group or organisation")
    p.add_argument(
        "--group-hook",
        action="store_true",
        help="with --group: one group (organisation) hook instead of one hook per project",
    )
    p.set_defaults(func=cmd_repo_enable)
    p = rsub.add_parser(
        "disable-group", help="delete Revisor's group hook, unregister its projects"
    )
    add_common(p, json_flag=True)
    p.add_argument("--server", required=True)
    p.add_argument("--group", required=True)
    p.set_defaults(func=cmd_repo_disable_group)
    p = rsub.add_parser("disable", help="stop reviewing: delete the webhook, unregister")
    add_common(p, json_flag=True)
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_repo_disable)


def onboarding(rt: Context) -> Onboarding:
    egress = configured_egress(rt.settings, rt.db, on_refusal=audit_refusals(rt.audit, cli_actor()))
    return Onboarding(
        rt.db,
        rt.keys,
        rt.audit,
        egress,
        rt.settings.public_base_url,
        hook_url=hook_url,
        group_hook_url=group_hook_url,
    )


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    from revisor.cli.core import emit

    emit(args, data, text)


def cmd_server_connect(args: argparse.Namespace, rt: Context) -> int:
    url = canonical_server_url(args.url)
    if args.ca_file and not Path(args.ca_file).is_file():
        raise ConfigError(f"CA file {args.ca_file} does not exist")
    if servers.find(rt.db, url) is None:
        rt.audit.record(Event.SERVER_ALLOWED, actor=cli_actor(), target=f"server:{url}")
        servers.allow(rt.db, url, added_by=cli_actor())
    ca = str(Path(args.ca_file).resolve()) if args.ca_file else None
    token = read_secret_file(args.token_file)
    user = onboarding(rt).connect(url, ForgeKind(args.kind), token, ca, Actor(cli_actor()))
    _emit(args, {"url": url, "user": user}, f"connected {url} as {user}")
    return 0


def cmd_server_test(args: argparse.Namespace, rt: Context) -> int:
    user = onboarding(rt).test(args.url, Actor(cli_actor()))
    _emit(args, {"url": args.url, "user": user, "ok": True}, f"{args.url}: token works ({user})")
    return 0


def cmd_server_projects(args: argparse.Namespace, rt: Context) -> int:
    found = onboarding(rt).projects(args.url, args.group)
    data = [{"project": p, "repo_id": r.id if r else None} for p, r in found]
    text = "\n".join(f"{p:<60} {'enabled (repo ' + str(r.id) + ')' if r else ''}" for p, r in found)
    _emit(args, data, text or "no projects this token can manage")
    return 0


def cmd_repo_enable(args: argparse.Namespace, rt: Context) -> int:
    if bool(args.group) == bool(args.projects):
        raise ConfigError("name projects, or --group, but not both")
    ob, who = onboarding(rt), Actor(cli_actor())
    if args.group:
        done, failed = ob.enable_group(args.server, args.group, who, group_hook=args.group_hook)
    else:
        done, failed = [], []
        for project in args.projects:
            done.append(ob.enable(args.server, project, who))
    lines = [
        f"enabled {e.repo.project} (repo {e.repo.id}, webhook {e.hook_id}): {e.note}" for e in done
    ]
    lines += [f"NOT enabled {p}: {why}" for p, why in failed]
    data = {
        "enabled": [
            {"repo_id": e.repo.id, "project": e.repo.project, "hook_id": e.hook_id,
             "verified": e.verified, "note": e.note}
            for e in done
        ],
        "failed": [{"project": p, "error": why} for p, why in failed],
    }  # fmt: skip
    _emit(args, data, "\n".join(lines) or "nothing to enable")
    return 1 if failed else 0


def cmd_repo_disable_group(args: argparse.Namespace, rt: Context) -> int:
    gone = onboarding(rt).disable_group(args.server, args.group, Actor(cli_actor()))
    names = ", ".join(r.project for r in gone) or "none"
    _emit(args, [r.public() for r in gone], f"group hook deleted; unregistered: {names}")
    return 0


def cmd_repo_disable(args: argparse.Namespace, rt: Context) -> int:
    repo = onboarding(rt).disable(args.id, Actor(cli_actor()))
    _emit(args, repo.public(), f"disabled review of {repo.project}: webhook deleted, unregistered")
    return 0
