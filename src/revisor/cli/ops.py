"""Operations commands: `revisor doctor`, `revisor backup`, `revisor restore`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from revisor.audit import AuditLog, Event
from revisor.cli import add_common, cli_actor
from revisor.context import Context
from revisor.errors import RevisorError
from revisor.ops import backup as backups
from revisor.ops.doctor import GROUPS, run_doctor


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor", help="check the installation and say how to fix what is wrong (exit 1 if any)"
    )
    add_common(p, json_flag=True)
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=GROUPS,
        metavar="CHECK",
        help=f"leave out a group of checks (repeatable): {', '.join(GROUPS)}",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per network probe")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("backup", help="copy the databases (online) into a tarball; keys apart")
    add_common(p, json_flag=True)
    p.add_argument("--out", required=True, type=Path, help="tarball to write (.tar.gz)")
    p.add_argument(
        "--include-keys",
        action="store_true",
        help="also write the keys to a SEPARATE file <name>.keys.tar.gz (store it offline)",
    )
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup into the data dir (services stopped)")
    add_common(p, json_flag=True)
    p.add_argument("archive", type=Path, help="tarball written by `revisor backup`")
    p.add_argument("--keys", type=Path, help="keys file written by `backup --include-keys`")
    p.add_argument("--force", action="store_true", help="replace the databases already there")
    p.add_argument(
        "--fingerprint",
        metavar="SHA256",
        help="the signing key the backup must carry (sha256:..., as `revisor backup` printed it);"
        " default: this data dir's own key, else the keys archive's",
    )
    p.add_argument(
        "--verify-only", action="store_true", help="check the archive's checksums and stop"
    )
    p.set_defaults(func=cmd_restore)


def cmd_doctor(args: argparse.Namespace, rt: Context) -> int:
    results = run_doctor(rt, skip=set(args.skip), timeout=args.timeout)
    failures = [c for c in results if not c.ok]
    if args.json:
        data = {"ok": not failures, "checks": [c.public() for c in results]}
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        for c in results:
            mark = "SKIP" if c.skipped else "ok  " if c.ok else "FAIL"
            print(f"[{mark}] {c.name:<22} {c.detail}")
            if c.fix:
                print(f"       fix: {c.fix}")
        print(
            f"{len(failures)} problem(s) found" if failures else "everything looks healthy",
        )
    return 1 if failures else 0


def cmd_backup(args: argparse.Namespace, rt: Context) -> int:
    result = backups.backup(rt.settings, args.out, include_keys=args.include_keys)
    rt.audit.record(
        Event.BACKUP_CREATED,
        actor=cli_actor(),
        target=str(result.path),
        files=list(result.files),
        keys_included=result.keys_path is not None,
    )
    if args.json:
        print(json.dumps(result.public(), indent=2, sort_keys=True))
    else:
        print(f"wrote {result.path} ({', '.join(result.files)}), signed by {result.signed_by}")
        if result.keys_path:
            print(f"wrote {result.keys_path}: it holds the keys; store it offline, apart")
        else:
            print("keys are not included: keep a copy of keys/ offline (or use --include-keys)")
    return 0


def cmd_restore(args: argparse.Namespace, rt: Context) -> int:
    if args.verify_only:
        trusted = args.fingerprint or backups.local_signing_key(rt.settings.keys_dir)
        manifest = backups.verify_archive(args.archive, trusted)
        if args.json:
            print(json.dumps(manifest, indent=2, sort_keys=True))
        else:
            print(
                f"{args.archive}: signature by {trusted} and checksums ok"
                f" ({', '.join(manifest['files'])})"
            )
        return 0
    result = backups.restore(
        args.archive,
        rt.settings.data_dir,
        keys_archive=args.keys,
        force=args.force,
        trusted=args.fingerprint,
    )
    try:
        with contextlib.closing(AuditLog.from_settings(rt.settings)) as audit:
            audit.record(
                Event.BACKUP_RESTORED,
                actor=cli_actor(),
                target=str(rt.settings.data_dir),
                archive=str(args.archive),
                restored=list(result.restored),
                keys_restored=list(result.keys),
            )
    except RevisorError as exc:  # e.g. keys not restored yet: say so, the restore stands
        print(f"revisor: warning: restore not recorded in the audit log: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.public(), indent=2, sort_keys=True))
    else:
        print(f"restored {', '.join(result.restored)} into {result.data_dir}")
        if result.keys:
            print(f"restored keys: {', '.join(result.keys)}")
        for note in result.notes:
            print(f"note: {note}")
        print("next: `revisor doctor`, then start the services")
    return 0
