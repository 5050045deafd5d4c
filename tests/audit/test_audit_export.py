"""Export + offline verification, and each kind of tampering an auditor must catch."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Event, Outcome, Signer, ensure_signing_key
from revisor.audit.export import (
    MANIFEST,
    RECORDS,
    SUMS,
    ExportError,
    export_audit,
    parse_time,
    to_cef,
    to_syslog,
)
from revisor.audit.keys import fingerprint
from revisor.audit.log import record_hash
from revisor.audit.verify import verify_export
from secret_scan import assert_no_plaintext

Fill = Callable[[AuditLog, int], None]


@pytest.fixture
def export(tmp_path: Path, log: AuditLog, fill: Fill) -> Path:
    fill(log, 12)
    out = tmp_path / "export"
    export_audit(log, out, formats=["syslog", "cef"])
    return out


def lines(out: Path) -> list[str]:
    return (out / RECORDS).read_text().splitlines()


def write_lines(out: Path, new: list[str]) -> None:
    (out / RECORDS).write_text("".join(line + "\n" for line in new))


def resign_sums(out: Path, signer: Signer | None = None) -> None:
    """What an attacker with write access (but maybe not the key) does to hide an edit."""
    names = sorted(p.name for p in out.iterdir() if p.name not in {SUMS, "SHA256SUMS.sig"})
    sums = "".join(f"{hashlib.sha256((out / n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    (out / SUMS).write_text(sums)
    if signer is not None:
        (out / "SHA256SUMS.sig").write_bytes(signer.sign(sums.encode()))


def test_clean_export_verifies(export: Path, signer: Signer) -> None:
    report = verify_export(export, expected_fingerprint=fingerprint(signer.public))
    assert report.ok, report.summary()
    assert (report.count, report.first_seq, report.last_seq) == (12, 1, 12)
    assert report.checkpoints == 3  # seq 5, 10 and the one made at export (12)
    names = {p.name for p in export.iterdir()}
    assert {"audit.syslog", "audit.cef", "public_key.pem", "SHA256SUMS.sig"} <= names


def test_export_is_recorded_and_in_the_next_export(
    tmp_path: Path, export: Path, log: AuditLog
) -> None:
    last = list(log.records())[-1]
    assert last["event"] == Event.AUDIT_EXPORTED.value
    assert last["details"]["count"] == 12
    again = export_audit(log, tmp_path / "again")
    assert again.last_seq == last["seq"]
    assert verify_export(tmp_path / "again").ok


def test_pinned_key_mismatch_fails(export: Path) -> None:
    other = Signer.load(ensure_signing_key(export.parent / "otherkeys"))
    report = verify_export(export, expected_fingerprint=fingerprint(other.public))
    assert not report.ok
    assert "pinned" in report.summary()


def test_edited_record_is_named(export: Path) -> None:
    rows = lines(export)
    rec = json.loads(rows[6])
    rec["actor"] = "user:innocent"
    rows[6] = json.dumps(rec)
    write_lines(export, rows)
    report = verify_export(export)
    assert not report.ok
    assert report.first_bad_seq == 7
    assert "record 7" in report.problems[0]
    assert "first bad record is seq 7" in report.summary()


def test_edited_and_rechained_record_is_caught_by_the_checkpoint(
    export: Path, tmp_path: Path
) -> None:
    """The attacker recomputes every later hash and SHA256SUMS, but has no signing key."""
    rows = [json.loads(line) for line in lines(export)]
    rows[6]["details"] = {"n": 999}
    prev = rows[5]["hash"]
    for rec in rows[6:]:
        rec["prev_hash"] = prev
        rec["hash"] = record_hash({k: v for k, v in rec.items() if k != "hash"})
        prev = rec["hash"]
    write_lines(export, [json.dumps(r) for r in rows])
    manifest = json.loads((export / MANIFEST).read_text())
    manifest["last_hash"] = prev
    (export / MANIFEST).write_text(json.dumps(manifest))
    attacker = Signer.load(ensure_signing_key(tmp_path / "attacker"))
    resign_sums(export, attacker)  # signed with the wrong key
    report = verify_export(export)
    assert not report.ok
    assert report.first_bad_seq == 6  # records 6..10 lie between checkpoints 5 and 10
    assert "signed checkpoint at seq 10" in report.summary()
    assert any("SHA256SUMS.sig" in p for p in report.problems)


def test_deleted_record_is_named(export: Path) -> None:
    rows = lines(export)
    del rows[3]
    write_lines(export, rows)
    report = verify_export(export)
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "record 4" in report.problems[0]
    assert "deleted" in report.problems[0]


def test_reordered_records_are_named(export: Path) -> None:
    rows = lines(export)
    rows[2], rows[3] = rows[3], rows[2]
    write_lines(export, rows)
    report = verify_export(export)
    assert not report.ok
    assert report.first_bad_seq == 3


def test_truncated_export_is_caught(export: Path) -> None:
    write_lines(export, lines(export)[:9])
    resign_sums(export)  # even with consistent (unsigned) sums
    report = verify_export(export)
    assert not report.ok
    assert report.first_bad_seq == 10
    assert any("truncated" in p for p in report.problems)
    assert any("signature" in p for p in report.problems)


def test_emptied_export_is_caught(export: Path) -> None:
    write_lines(export, [])
    report = verify_export(export)
    assert not report.ok
    assert report.first_bad_seq == 1


def test_cut_first_record_is_caught(export: Path) -> None:
    write_lines(export, lines(export)[1:])
    report = verify_export(export)
    assert not report.ok
    assert report.first_bad_seq == 1


def test_missing_file_fails(export: Path) -> None:
    (export / "checkpoints.jsonl").unlink()
    report = verify_export(export)
    assert not report.ok
    assert "checkpoints.jsonl" in report.summary()


def test_edited_rendering_is_caught_by_the_sums(export: Path) -> None:
    with (export / "audit.cef").open("a") as f:
        f.write("CEF:0|forged\n")
    report = verify_export(export)
    assert not report.ok
    assert "audit.cef: content does not match SHA256SUMS" in report.problems


def test_since_starts_mid_chain_and_still_verifies(
    tmp_path: Path, log: AuditLog, fill: Fill
) -> None:
    fill(log, 4)
    cut = list(log.records())[-1]["ts"] + 1e-6
    fill(log, 4)
    later = [r for r in log.records() if r["ts"] >= cut]
    out = tmp_path / "since"
    result = export_audit(log, out, since=cut)
    assert result.first_seq == later[0]["seq"] > 1
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["first_prev_hash"] != "0" * 64
    assert verify_export(out).ok
    write_lines(out, lines(out)[1:])
    assert verify_export(out).first_bad_seq == result.first_seq


def test_until_before_since_and_non_empty_dir_are_refused(tmp_path: Path, log: AuditLog) -> None:
    with pytest.raises(ExportError):
        export_audit(log, tmp_path / "x", since=10.0, until=5.0)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ExportError, match="empty"):
        export_audit(log, tmp_path / "full")
    with pytest.raises(ExportError, match="format"):
        export_audit(log, tmp_path / "y", formats=["xml"])


def test_empty_log_exports_and_verifies(tmp_path: Path, log: AuditLog) -> None:
    result = export_audit(log, tmp_path / "empty")
    assert result.count == 0
    assert verify_export(tmp_path / "empty").ok


def test_parse_time() -> None:
    assert parse_time("2026-11-01T00:00:00Z") == parse_time("2026-11-01T00:00:00")
    assert parse_time("1700000000") == 1700000000.0
    with pytest.raises(ExportError):
        parse_time("yesterday")


def test_renderings_cannot_forge_lines() -> None:
    row = {
        "seq": 3,
        "ts": 1700000000.5,
        "event": "auth.signin.failed",
        "actor": 'user:evil"] [x\nCEF:0|fake',
        "source": "10.0.0.7",
        "target": "user:a|b=c",
        "outcome": Outcome.FAILURE.value,
        "details": {"why": "bad\r\npassword"},
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    syslog = to_syslog(row, "host")
    cef = to_cef(row)
    assert "\n" not in syslog
    assert "\r" not in syslog
    assert "\n" not in cef
    assert "\r" not in cef
    assert syslog.startswith("<108>1 2023-11-14T22:13:20.500000Z host revisor - auth.signin.failed")
    assert 'actor="user:evil\\"\\] [x' in syslog
    assert "src=10.0.0.7" in cef
    assert "cs1=user:a|b\\=c" in cef


def test_export_contains_no_repo_secret(tmp_path: Path, log: AuditLog) -> None:
    """Audit details carry ids and digests, never secrets: scan the export to prove it."""
    secret = "glpat-SuperSecretToken-123456"
    log.record(
        Event.SECRET_CREATED,
        actor="user:admin",
        target="repo:1",
        field="token",
        sha256=hashlib.sha256(secret.encode()).hexdigest(),
    )
    out = tmp_path / "scan"
    export_audit(log, out, formats=["syslog", "cef"])
    shutil.make_archive(str(tmp_path / "bundle"), "gztar", out)
    assert_no_plaintext([out, tmp_path / "bundle.tar.gz", tmp_path / "audit.db"], [secret])
