"""`revisor suppressions list|remove`: the findings people asked Revisor not to raise again
(`/revisor ignore`, a thumbs-down), per repository; every removal is audited."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

from revisor import jobactions
from revisor.cli import add_common, cli_actor
from revisor.cli.core import emit
from revisor.context import Context
from revisor.store import suppressions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("suppressions", help="list and remove suppressed findings")
    ssub = sp.add_subparsers(dest="suppressions_command", required=True, metavar="ACTION")
    p = ssub.add_parser("list", help="list suppressions, newest first")
    add_common(p, json_flag=True)
    p.add_argument("--repo", type=int, default=None, help="only this repository (id)")
    p.add_argument("--search", default="", help="text in the title, path, reason or author")
    p.set_defaults(func=cmd_list)
    p = ssub.add_parser("remove", help="remove one suppression: the finding may be raised again")
    add_common(p, json_flag=True)
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_remove)


def _line(s: suppressions.Suppression) -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime(s.created_at))
    reason = f"  ({s.reason})" if s.reason else ""
    who = f"{s.source:<7} {s.created_by:<16}"
    return f"{s.id:>5}  repo {s.repo_id:<4} {when}  {who} {s.title}  [{s.path}]{reason}"


def cmd_list(args: argparse.Namespace, rt: Context) -> int:
    found = suppressions.list_all(rt.db, repo_id=args.repo, search=args.search)
    emit(args, [asdict(s) for s in found], "\n".join(_line(s) for s in found) or "no suppressions")
    return 0


def cmd_remove(args: argparse.Namespace, rt: Context) -> int:
    removed = jobactions.remove_suppression(rt.db, rt.audit, args.id, actor=cli_actor())
    emit(args, asdict(removed), f"removed suppression {removed.id} ({removed.title})")
    return 0
