"""The audit log: chain, signed checkpoints, signing key file, and fail-closed writes."""

from __future__ import annotations

import itertools
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from revisor.audit import AuditLog, Event, Outcome, Signer, ensure_signing_key
from revisor.audit.checkpoint import verify_checkpoint
from revisor.audit.log import GENESIS, record_hash
from revisor.config import AuditSettings, Settings
from revisor.errors import AuditWriteError, ConfigError

Fill = Callable[[AuditLog, int], None]


def test_signing_key_is_private_idempotent_and_outside_the_db(tmp_path: Path) -> None:
    path = ensure_signing_key(tmp_path / "keys")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    assert ensure_signing_key(tmp_path / "keys") == path
    assert path.read_bytes() == first  # never replaced
    assert path.parent == tmp_path / "keys"


def test_records_are_chained(log: AuditLog, fill: Fill) -> None:
    fill(log, 3)
    rows = list(log.records())
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == GENESIS
    for prev, row in itertools.pairwise(rows):
        assert row["prev_hash"] == prev["hash"]
    body = {k: v for k, v in rows[1].items() if k != "hash"}
    assert record_hash(body) == rows[1]["hash"]


def test_checkpoint_every_n_records_is_signed(log: AuditLog, signer: Signer, fill: Fill) -> None:
    fill(log, 12)
    cps = log.checkpoints()
    assert [c["seq"] for c in cps] == [5, 10]
    hashes = {r["seq"]: r["hash"] for r in log.records()}
    for cp in cps:
        assert cp["hash"] == hashes[cp["seq"]]
        assert verify_checkpoint(signer.public, dict(cp))
    forged = dict(cps[0], hash="0" * 64)
    assert not verify_checkpoint(signer.public, forged)
    assert log.checkpoint() == 12
    assert [c["seq"] for c in log.checkpoints(11)] == [12]


def test_from_settings_needs_the_signing_key(tmp_path: Path, fill: Fill) -> None:
    settings = Settings(data_dir=tmp_path, audit=AuditSettings(checkpoint_every=2))
    with pytest.raises(ConfigError, match="revisor init"):
        AuditLog.from_settings(settings)
    ensure_signing_key(settings.keys_dir)
    log = AuditLog.from_settings(settings)
    fill(log, 2)
    assert [c["seq"] for c in log.checkpoints()] == [2]
    log.close()


def test_disk_full_refuses_the_record(log: AuditLog, fill: Fill) -> None:
    fill(log, 2)
    pages = log.db.conn.execute("PRAGMA page_count").fetchone()[0]
    log.db.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(AuditWriteError, match=r"job\.created could not be written"):
        log.record(Event.JOB_CREATED, actor="system:test", target="job:big", blob="x" * 100_000)
    log.db.conn.execute("PRAGMA max_page_count = 1073741823")
    assert [r["seq"] for r in log.records()] == [1, 2]


def test_read_only_database_refuses_the_record(tmp_path: Path, signer: Signer) -> None:
    path = tmp_path / "audit.db"
    AuditLog(path).close()
    # Open it the way a remounted read-only volume would present it.
    log = AuditLog(path, signer=signer, checkpoint_every=5)
    log.db.conn.close()
    log.db.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    with pytest.raises(AuditWriteError, match="readonly"):
        log.record(
            Event.SIGNIN_FAILED, actor="user:eve", target="user:eve", outcome=Outcome.FAILURE
        )


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_file_refuses_the_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditLog(path).close()
    path.chmod(0o444)
    tmp_path.chmod(0o555)  # no -wal / -journal file can be created either
    try:
        with pytest.raises((AuditWriteError, sqlite3.Error)):
            AuditLog(path).record(Event.SIGNOUT, actor="user:a", target="user:a")
    finally:
        tmp_path.chmod(0o755)


def test_checkpoint_failure_rolls_back_the_record(tmp_path: Path, signer: Signer) -> None:
    class BrokenSigner(Signer):
        def sign(self, message: bytes) -> bytes:
            raise OSError("HSM unavailable")

    log = AuditLog(tmp_path / "audit.db", signer=BrokenSigner(signer.private), checkpoint_every=2)
    log.record(Event.SIGNOUT, actor="user:a", target="user:a")
    with pytest.raises(AuditWriteError, match="HSM unavailable"):
        log.record(Event.SIGNOUT, actor="user:b", target="user:b")
    assert [r["seq"] for r in log.records()] == [1]  # no record without its checkpoint
    log.close()
