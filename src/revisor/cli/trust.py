"""Trust commands: `revisor audit export|checkpoint|verify`, `revisor signer`, `keys rotate`.

`audit verify` works on an export directory alone: it never opens the data dir, so an auditor can
run it on another machine with nothing but the exported files.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from revisor.audit import SIGNING_KEY_NAME, AuditLog, Event, Outcome, Signer, bundle
from revisor.audit.export import FORMATS, export_audit, parse_time
from revisor.audit.keys import fingerprint
from revisor.audit.verify import verify_export
from revisor.audit.witness import read_witness, witness_line
from revisor.cli import add_common, cli_actor
from revisor.context import Context
from revisor.errors import RevisorError
from revisor.secrets import Rotation, SecretError, delete_old_keys, rotate


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ap = sub.add_parser("audit", help="export and verify the tamper-evident audit trail")
    asub = ap.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    p = asub.add_parser(
        "export",
        help="write records, signed checkpoints, public key, SHA256SUMS and signature to a dir",
    )
    add_common(p, json_flag=True)
    p.add_argument("--since", help="first time to include (ISO 8601, UTC if no zone; or epoch)")
    p.add_argument("--until", help="time to stop before (same forms as --since)")
    p.add_argument(
        "--format",
        action="append",
        default=[],
        metavar="FMT",
        help=f"extra rendering(s): {', '.join(FORMATS)} (repeatable; jsonl is always written)",
    )
    p.add_argument("--out", required=True, type=Path, help="new or empty directory")
    p.set_defaults(func=cmd_audit_export)

    p = asub.add_parser(
        "checkpoint",
        help="sign a checkpoint of the head now and print it: a witness to keep off the box",
    )
    add_common(p)
    p.add_argument("--out", type=Path, help="write the witness to this file (default: stdout)")
    p.set_defaults(func=cmd_audit_checkpoint)

    p = asub.add_parser("verify", help="check an export offline (needs no data dir)")
    p.add_argument(
        "dir", type=Path, help="the export directory, or the .tar.gz the dashboard downloads"
    )
    p.add_argument(
        "--key",
        metavar="FINGERPRINT",
        help="pinned public key fingerprint (sha256:...) the export must be signed with",
    )
    p.add_argument(
        "--witness",
        type=Path,
        metavar="FILE",
        help="a checkpoint kept off the box (`audit checkpoint --out`, or its syslog line): "
        "the export must contain its seq with its hash",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser(
        "signer", help="hold the audit signing key; sign checkpoints on a Unix socket"
    )
    add_common(p)
    p.add_argument("--socket", type=Path, help="socket path (default: [audit] signer_socket)")
    p.set_defaults(func=cmd_signer)

    kp = sub.add_parser("keys", help="manage the key-encryption key of stored secrets")
    ksub = kp.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    p = ksub.add_parser("rotate", help="create a new key and re-encrypt every stored secret")
    add_common(p, json_flag=True)
    p.add_argument(
        "--delete-old", action="store_true", help="delete the old key file(s) after rotating"
    )
    p.set_defaults(func=cmd_keys_rotate)


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if getattr(args, "json", False) else text)


def signed_audit(rt: Context) -> AuditLog:
    """The runtime's audit log, with the signing key attached if the runtime did not."""
    log = rt.audit
    if log.signer is None and log.remote is None:
        log.signer = Signer.load(rt.settings.keys_dir / SIGNING_KEY_NAME)
        log.checkpoint_every = rt.settings.audit.checkpoint_every
    return log


def cmd_audit_checkpoint(args: argparse.Namespace, rt: Context) -> int:
    log = signed_audit(rt)
    cp = log.checkpoint_now()
    if cp is None:
        raise RevisorError("the audit log is empty: there is nothing to checkpoint yet")
    line = witness_line(cp, fingerprint(log.public_key())) + "\n"
    if args.out:
        args.out.write_text(line, encoding="utf-8")
        print(f"witness of seq {cp['seq']} written to {args.out}; keep it off this machine")
    else:
        sys.stdout.write(line)
    return 0


def cmd_signer(args: argparse.Namespace, rt: Context) -> int:
    from revisor.audit.signer import serve_signer

    serve_signer(rt.settings, args.socket)
    return 0


def cmd_audit_export(args: argparse.Namespace, rt: Context) -> int:
    result = export_audit(
        signed_audit(rt),
        args.out,
        since=parse_time(args.since) if args.since else None,
        until=parse_time(args.until) if args.until else None,
        formats=args.format,
        actor=cli_actor(),
    )
    data = {
        "out": str(result.out_dir),
        "count": result.count,
        "first_seq": result.first_seq,
        "last_seq": result.last_seq,
        "files": list(result.files),
        "fingerprint": result.fingerprint,
    }
    text = (
        f"exported {result.count} records (seq {result.first_seq}..{result.last_seq}) to "
        f"{result.out_dir}\nsigning key {result.fingerprint}\n"
        f"verify offline with: revisor audit verify {result.out_dir} --key {result.fingerprint}"
    )
    _emit(args, data, text)
    return 0


def cmd_audit_verify(args: argparse.Namespace, rt: Context) -> int:
    witness = None
    if args.witness:
        try:
            witness = read_witness(args.witness)
        except ValueError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory() as tmp:
        try:
            directory = bundle.unpack(args.dir, Path(tmp)) if args.dir.is_file() else args.dir
        except bundle.BundleError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        report = verify_export(directory, expected_fingerprint=args.key, witness=witness)
    data = {
        "ok": report.ok,
        "problems": list(report.problems),
        "first_bad_seq": report.first_bad_seq,
        "count": report.count,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "checkpoints": report.checkpoints,
        "fingerprint": report.fingerprint,
        "last_checkpoint_seq": report.last_checkpoint_seq,
        "unsigned_tail": report.unsigned_tail,
        "witness_seq": report.witness_seq,
    }
    _emit(args, data, report.summary())
    return 0 if report.ok else 1


def cmd_keys_rotate(args: argparse.Namespace, rt: Context) -> int:
    keys_dir = rt.settings.keys_dir
    actor = cli_actor()

    def audit(rotation: Rotation) -> None:
        rt.audit.record(
            Event.KEYS_ROTATED,
            actor=actor,
            target="keys:kek",
            outcome=Outcome.SUCCESS,
            new_key=rotation.new_key_id.hex(),
            old_keys=[k.hex() for k in rotation.old_key_ids],
            resealed=rotation.resealed,
            delete_old=bool(args.delete_old),
        )

    try:
        rotation = rotate(rt.db.conn, keys_dir, before_commit=audit)
    except SecretError as exc:
        rt.audit.record(
            Event.KEYS_ROTATED,
            actor=actor,
            target="keys:kek",
            outcome=Outcome.FAILURE,
            error=str(exc),
        )
        raise
    old_files = rotation.old_key_files(keys_dir)
    deleted = delete_old_keys(rt.db.conn, keys_dir, rotation) if args.delete_old else []
    lines = [
        f"re-encrypted {rotation.resealed} stored secrets with new key {rotation.new_key_id.hex()}",
    ]
    if deleted:
        lines.append("deleted old key file(s): " + ", ".join(str(p) for p in deleted))
    else:
        lines.append(
            "the old key file(s) can now be deleted (or rerun with --delete-old): "
            + ", ".join(str(p) for p in old_files)
        )
    lines.append("restart the revisor services so they load the new key")
    data = {
        "new_key": rotation.new_key_id.hex(),
        "old_keys": [k.hex() for k in rotation.old_key_ids],
        "resealed": rotation.resealed,
        "old_key_files": [str(p) for p in old_files],
        "deleted": [str(p) for p in deleted],
    }
    _emit(args, data, "\n".join(lines))
    return 0
