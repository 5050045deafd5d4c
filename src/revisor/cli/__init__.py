"""The `revisor` command: the composition root.

Each subcommand module exposes `register(subparsers)`; handlers take `(args, rt)` and return an
exit code. Settings are built once here, from `--data-dir` (or `REVISOR_DATA_DIR`), and passed
down in a `revisor.context.Context`, which opens the database, keys and audit log on first use
and is closed here once the command ends.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from revisor import __version__, config
from revisor.context import Context
from revisor.errors import RevisorError

SUBCOMMAND_MODULES = (
    "revisor.cli.core",
    "revisor.cli.processes",
    "revisor.cli.servers",
    "revisor.cli.models",
    "revisor.cli.trust",
    "revisor.cli.review",
    "revisor.cli.ops",
    "revisor.cli.observe",
    "revisor.cli.feedback",
)


def add_common(parser: argparse.ArgumentParser, *, json_flag: bool = False) -> None:
    """`--data-dir` on every command (and `--json` on those that print data)."""
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="data directory (default: $REVISOR_DATA_DIR or ./revisor-data)",
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON")


def cli_actor() -> str:
    """Who runs this command, for the audit log: the sudo caller if any, else the user."""
    return f"cli:{os.environ.get('SUDO_USER') or os.environ.get('USER') or os.getuid()}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revisor", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"revisor {__version__}")
    parser.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:  # every group is part of every build: a missing one is a bug
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # databases, logs and exports are for the revisor user alone
    data_dir = config.default_data_dir() if args.data_dir is None else Path(args.data_dir)
    rt: Context | None = None
    try:
        rt = Context(config.load(data_dir))
        result: int = args.func(args, rt)
        return result
    except RevisorError as exc:
        print(f"revisor: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if rt is not None:
            rt.close()
