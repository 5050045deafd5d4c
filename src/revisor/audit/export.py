"""`revisor audit export`: write a self-verifying bundle of audit records for offline checking.

The bundle (one directory) holds:

- `records.jsonl`     every record of the range, one JSON object per line, exactly as chained;
- `checkpoints.jsonl` the signed checkpoints that fall inside the range (one is made at export);
- `public_key.pem`    the Ed25519 public key that signed them;
- `manifest.json`     range, count, the first record's `prev_hash` and the last record's hash;
- `audit.syslog` / `audit.cef` optional renderings for a SIEM (not used for verification);
- `SHA256SUMS`        `sha256sum -c` compatible digests of all the files above;
- `SHA256SUMS.sig`    raw Ed25519 signature over `SHA256SUMS`.

The manifest is covered by the signed `SHA256SUMS`, so cutting records off the end (or the start)
of `records.jsonl` is detected even between checkpoints. `--since/--until` select by time, but
the export is always a *contiguous* run of sequence numbers (from the first record at or after
`since` to the last one before `until`) so that the chain can be checked link by link.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revisor import __version__
from revisor.audit.checkpoint import Checkpoint
from revisor.audit.events import Event, Outcome
from revisor.audit.keys import fingerprint, key_id, public_key_pem
from revisor.audit.log import AuditLog
from revisor.errors import AuditWriteError, RevisorError
from revisor.sqlitefile import now

EXPORT_TYPE = "revisor.audit.export.v1"
FORMATS = ("jsonl", "syslog", "cef")
RECORDS = "records.jsonl"
CHECKPOINTS = "checkpoints.jsonl"
PUBLIC_KEY = "public_key.pem"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SUMS_SIG = "SHA256SUMS.sig"
RENDERINGS = {"syslog": "audit.syslog", "cef": "audit.cef"}
# Syslog facility 13 is "log audit"; RFC 5424 structured-data id under a private enterprise number.
SYSLOG_FACILITY = 13
SD_ID = "revisor@32473"


class ExportError(RevisorError):
    """The export could not be made (bad arguments, non-empty target directory, no signing key)."""


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    count: int
    first_seq: int
    last_seq: int
    files: tuple[str, ...]
    fingerprint: str


def parse_time(value: str) -> float:
    """`--since/--until`: ISO 8601 (naive means UTC) or seconds since the epoch."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ExportError(
            f"not a time: {value!r} (use ISO 8601 like 2026-11-01T00:00:00Z, or epoch seconds)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def record_line(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def export_audit(
    log: AuditLog,
    out_dir: Path,
    *,
    since: float | None = None,
    until: float | None = None,
    formats: Iterable[str] = ("jsonl",),
    actor: str = "system:cli",
    source: str = "",
) -> ExportResult:
    """Checkpoint the head, record `audit.exported`, then write the bundle into `out_dir`.

    The `audit.exported` record is written before any file (fail closed: no record, no export);
    it is the first record *after* the exported range, so the next export contains it.
    """
    fmts = check_formats(formats)
    if log.signer is None and log.remote is None:
        raise ExportError("the audit log has no signing key; run `revisor init`")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} must be a new or empty directory")

    public = log.public_key()
    head = log.checkpoint()
    first_seq, last_seq = _seq_range(log, head, since, until)
    rows = _rows(log, first_seq, last_seq)
    checkpoints = log.checkpoints(first_seq, last_seq) if rows else []
    log.record(
        Event.AUDIT_EXPORTED,
        actor=actor,
        target=f"audit:{first_seq}-{last_seq}" if rows else "audit:empty",
        outcome=Outcome.SUCCESS,
        source=source,
        count=len(rows),
        first_seq=first_seq,
        last_seq=last_seq,
        since=since,
        until=until,
        formats=list(fmts),
        out=str(out_dir),
    )

    out_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    manifest = {
        "type": EXPORT_TYPE,
        "exported_at": round(now(), 6),
        "since": since,
        "until": until,
        "formats": list(fmts),
        "revisor_version": __version__,
        **manifest_facts(rows, first_seq, last_seq, public),
    }
    manifest_text = json.dumps(manifest, sort_keys=True, indent=2) + "\n"
    host = socket.gethostname()
    files = bundle_files(rows, checkpoints, public, manifest_text, fmts, host)
    sums = sums_text(files)
    if log.remote is not None:
        signature = log.remote.sign_export(
            first_seq=first_seq,
            last_seq=last_seq,
            manifest=manifest_text,
            formats=list(fmts),
            host=host,
            sums=sums,
        )
    elif log.signer is not None:
        signature = log.signer.sign(sums.encode())
    else:  # checked above; kept for the type checker
        raise ExportError("the audit log has no signing key; run `revisor init`")
    for name, data in files.items():
        _write(out_dir / name, data)
    _write(out_dir / SUMS, sums.encode())
    _write(out_dir / SUMS_SIG, signature)
    return ExportResult(
        out_dir=out_dir,
        count=len(rows),
        first_seq=first_seq,
        last_seq=last_seq,
        files=(*sorted(files), SUMS, SUMS_SIG),
        fingerprint=fingerprint(public),
    )


def manifest_facts(
    rows: Sequence[dict[str, Any]], first_seq: int, last_seq: int, public: Ed25519PublicKey
) -> dict[str, Any]:
    """The manifest fields verification relies on (the signer checks them before signing)."""
    return {
        "count": len(rows),
        "first_seq": first_seq,
        "last_seq": last_seq,
        "first_prev_hash": rows[0]["prev_hash"] if rows else None,
        "last_hash": rows[-1]["hash"] if rows else None,
        "key_id": key_id(public),
        "fingerprint": fingerprint(public),
    }


def bundle_files(
    rows: Sequence[dict[str, Any]],
    checkpoints: Sequence[Checkpoint],
    public: Ed25519PublicKey,
    manifest_text: str,
    fmts: Sequence[str],
    host: str,
) -> dict[str, bytes]:
    """Every file of the bundle but SHA256SUMS(.sig): a pure function of its inputs."""
    files: dict[str, bytes] = {
        RECORDS: "".join(record_line(r) + "\n" for r in rows).encode(),
        CHECKPOINTS: "".join(record_line(dict(c)) + "\n" for c in checkpoints).encode(),
        PUBLIC_KEY: public_key_pem(public),
        MANIFEST: manifest_text.encode(),
    }
    for fmt in fmts:
        if fmt == "syslog":
            files[RENDERINGS[fmt]] = "".join(to_syslog(r, host) + "\n" for r in rows).encode()
        elif fmt == "cef":
            files[RENDERINGS[fmt]] = "".join(to_cef(r) + "\n" for r in rows).encode()
    return files


def sums_text(files: dict[str, bytes]) -> str:
    return "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in sorted(files))


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    out = ["jsonl"]  # always: it is what verification reads
    for fmt in formats:
        for part in fmt.split(","):
            name = part.strip().lower()
            if name not in FORMATS:
                raise ExportError(f"unknown export format {name!r} (use {', '.join(FORMATS)})")
            if name not in out:
                out.append(name)
    return tuple(out)


def _seq_range(
    log: AuditLog, head: int, since: float | None, until: float | None
) -> tuple[int, int]:
    if since is not None and until is not None and until <= since:
        raise ExportError("--until must be after --since")
    sql, params = "SELECT min(seq), max(seq) FROM audit WHERE seq <= ?", [float(head)]
    if since is not None:
        sql += " AND ts >= ?"
        params.append(since)
    if until is not None:
        sql += " AND ts < ?"
        params.append(until)
    first, last = log.db.conn.execute(sql, params).fetchone()
    return (int(first), int(last)) if first is not None else (0, 0)


def _rows(log: AuditLog, first_seq: int, last_seq: int) -> list[dict[str, Any]]:
    return read_rows(log.db, first_seq, last_seq)


def read_rows(db: sqlite_utils.Database, first_seq: int, last_seq: int) -> list[dict[str, Any]]:
    """Records first_seq..last_seq, decoded; AuditWriteError if any is missing."""
    if not first_seq:
        return []
    rows = []
    for row in db.query(
        "SELECT * FROM audit WHERE seq BETWEEN ? AND ? ORDER BY seq", [first_seq, last_seq]
    ):
        row["details"] = json.loads(row["details"])
        rows.append(row)
    if len(rows) != last_seq - first_seq + 1:
        raise AuditWriteError(
            f"audit.db has gaps between seq {first_seq} and {last_seq}: "
            "the log itself was tampered with; run `revisor audit verify` on a full export"
        )
    return rows


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# --- renderings for SIEMs --------------------------------------------------------------------


def _severity(outcome: str) -> int:
    return 5 if outcome == Outcome.SUCCESS.value else 4  # notice / warning


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _printable(value: str) -> str:
    """One line, no control characters: a record field must not forge another log line."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in value)


def to_syslog(row: dict[str, Any], hostname: str = "-") -> str:
    """RFC 5424 line: the event name is the MSGID, the fields are structured data."""
    pri = SYSLOG_FACILITY * 8 + _severity(row["outcome"])
    params: Sequence[tuple[str, Any]] = (
        ("seq", row["seq"]),
        ("actor", row["actor"]),
        ("target", row["target"]),
        ("outcome", row["outcome"]),
        ("source", row["source"]),
        ("hash", row["hash"]),
    )
    sd = " ".join(f'{k}="{_sd_escape(_printable(str(v)))}"' for k, v in params)
    msg = _printable(json.dumps(row["details"], sort_keys=True, ensure_ascii=False))
    host = (hostname or "-").replace(" ", "")[:255] or "-"
    return f"<{pri}>1 {iso(row['ts'])} {host} revisor - {row['event']} [{SD_ID} {sd}] {msg}"


def _cef_header(value: str) -> str:
    return _printable(value).replace("\\", "\\\\").replace("|", "\\|")


def _cef_ext(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("=", "\\=")
    return _printable(escaped.replace("\r", "\\r").replace("\n", "\\n"))


def to_cef(row: dict[str, Any]) -> str:
    """ArcSight CEF line. The source address goes to `src` only when it is an IP address."""
    severity = 3 if row["outcome"] == Outcome.SUCCESS.value else 6
    ext: list[tuple[str, Any]] = [
        ("rt", int(row["ts"] * 1000)),
        ("suser", row["actor"]),
        ("outcome", row["outcome"]),
        ("cs1Label", "target"),
        ("cs1", row["target"]),
        ("cs2Label", "hash"),
        ("cs2", row["hash"]),
        ("cn1Label", "seq"),
        ("cn1", row["seq"]),
    ]
    try:
        ipaddress.ip_address(row["source"])
        ext.append(("src", row["source"]))
    except ValueError:
        if row["source"]:
            ext += [("cs3Label", "source"), ("cs3", row["source"])]
    ext.append(("msg", json.dumps(row["details"], sort_keys=True, ensure_ascii=False)))
    header = "|".join(
        _cef_header(x)
        for x in ("Revisor", "Revisor", __version__, row["event"], row["event"], str(severity))
    )
    return f"CEF:0|{header}|" + " ".join(f"{k}={_cef_ext(str(v))}" for k, v in ext)


__all__ = ["FORMATS", "ExportError", "ExportResult", "export_audit", "parse_time"]
