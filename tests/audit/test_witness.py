"""Witnesses: `revisor audit checkpoint` then `revisor audit verify EXPORT --witness FILE`.

The attack: someone with write access to the data dir deletes the newest audit records and the
checkpoints that cover them. The next export is consistent again (it even signs a fresh
checkpoint over the shortened head), so only a checkpoint kept off the box can tell.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Event, Signer, ensure_signing_key
from revisor.audit.checkpoint import make_checkpoint
from revisor.audit.keys import fingerprint
from revisor.audit.witness import WITNESS_TYPE, witness_line
from revisor.cli import main


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    assert main(["init", "--data-dir", str(d)]) == 0
    log = AuditLog(d / "audit.db")
    for i in range(7):
        log.record(Event.SIGNIN_SUCCEEDED, actor=f"user:u{i}", target=f"user:u{i}")
    log.close()
    return d


def checkpoint(data_dir: Path, out: Path) -> dict[str, object]:
    assert main(["audit", "checkpoint", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    return dict(json.loads(out.read_text()))


def export(data_dir: Path, out: Path) -> Path:
    assert main(["audit", "export", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    return out


def cut_tail(data_dir: Path, after: int) -> None:
    """The attacker: delete every record and checkpoint after `after`."""
    conn = sqlite3.connect(data_dir / "audit.db")
    with conn:
        conn.execute("DELETE FROM audit WHERE seq > ?", [after])
        conn.execute("DELETE FROM audit_checkpoints WHERE seq > ?", [after])
    conn.close()


def test_checkpoint_prints_a_signed_witness(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "checkpoint", "--data-dir", str(data_dir)]) == 0
    w = json.loads(capsys.readouterr().out)
    assert w["type"] == WITNESS_TYPE
    assert w["seq"] == 7
    assert w["fingerprint"].startswith("sha256:")
    assert set(w) >= {"seq", "hash", "ts", "time", "key_id", "signature", "fingerprint"}
    log = AuditLog(data_dir / "audit.db")
    assert [c["seq"] for c in log.checkpoints()] == [7]  # also stored with the log
    log.close()


def test_untouched_export_contains_the_witness(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = tmp_path / "witness.json"
    checkpoint(data_dir, w)
    out = export(data_dir, tmp_path / "exp")
    capsys.readouterr()
    assert main(["audit", "verify", str(out), "--witness", str(w)]) == 0
    assert "export contains seq 7 as witnessed" in capsys.readouterr().out


def test_truncation_after_the_last_checkpoint_is_caught_by_the_witness(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = tmp_path / "witness.json"
    early = checkpoint(data_dir, tmp_path / "early.json")  # seq 7
    log = AuditLog(data_dir / "audit.db")
    for i in range(5):
        log.record(Event.SIGNOUT, actor=f"user:u{i}", target=f"user:u{i}")
    log.close()
    checkpoint(data_dir, w)  # seq 12: `audit checkpoint` signs the head and adds no record
    cut_tail(data_dir, after=int(str(early["seq"])))
    out = export(data_dir, tmp_path / "exp")
    capsys.readouterr()

    # On its own the export is consistent: that is the hole the witness closes.
    assert main(["audit", "verify", str(out)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", str(out), "--witness", str(w)]) == 1
    text = capsys.readouterr().out
    assert "ends at seq 7" in text
    assert "records 8..12 are missing (history truncated)" in text
    # The early witness is still in the shortened export.
    assert main(["audit", "verify", str(out), "--witness", str(tmp_path / "early.json")]) == 0


def test_rewritten_history_is_caught_by_the_witness(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = tmp_path / "witness.json"
    checkpoint(data_dir, w)
    # An attacker who also has the key: rewrite from seq 3 on, re-chain, re-sign everything.
    cut_tail(data_dir, after=2)
    log = AuditLog(data_dir / "audit.db", signer=Signer.load(ensure_signing_key(data_dir / "keys")))
    for i in range(5):
        log.record(Event.SIGNIN_SUCCEEDED, actor=f"user:x{i}", target=f"user:x{i}")
    log.close()
    out = export(data_dir, tmp_path / "exp")
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", str(out), "--witness", str(w), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any("record 7 has hash" in p and "rewritten" in p for p in report["problems"])


def test_forged_witness_is_refused(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = tmp_path / "witness.json"
    real = checkpoint(data_dir, w)
    out = export(data_dir, tmp_path / "exp")
    rows = (out / "records.jsonl").read_text().splitlines()
    # A witness edited to name an earlier record (its real seq and hash), signature unchanged.
    earlier = json.loads(rows[2])
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**real, "seq": earlier["seq"], "hash": earlier["hash"]}))
    capsys.readouterr()
    assert main(["audit", "verify", str(out), "--witness", str(forged)]) == 1
    assert "signature does not verify (forged or edited witness" in capsys.readouterr().out

    # A witness signed with another key (an attacker's) is refused too.
    other = Signer.load(ensure_signing_key(tmp_path / "other-keys"))
    foreign = tmp_path / "foreign.json"
    cp = make_checkpoint(other, earlier["seq"], earlier["hash"], 1.0)
    foreign.write_text(witness_line(cp, fingerprint(other.public)))
    assert main(["audit", "verify", str(out), "--witness", str(foreign)]) == 1
    assert "not by this export's key" in capsys.readouterr().out

    not_a_witness = tmp_path / "junk.json"
    not_a_witness.write_text("{}")
    assert main(["audit", "verify", str(out), "--witness", str(not_a_witness)]) == 1
    assert "is not a Revisor audit witness" in capsys.readouterr().err


def test_checkpoint_of_an_empty_log_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "fresh"
    assert main(["init", "--data-dir", str(d)]) == 0
    assert main(["audit", "checkpoint", "--data-dir", str(d)]) != 0
    assert "nothing to checkpoint" in capsys.readouterr().err
