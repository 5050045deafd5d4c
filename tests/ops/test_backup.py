"""`revisor backup` / `revisor restore`: online copies under a live writer, keys apart, refusals."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from revisor import config
from revisor.audit import AuditLog
from revisor.cli import main
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.ops import backup as backups
from revisor.ops.doctor import run_doctor

WRITER = """
import sqlite3, sys, time, pathlib
db, stop = sys.argv[1], pathlib.Path(sys.argv[2])
conn = sqlite3.connect(db, timeout=10)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS writer_rows (n INTEGER PRIMARY KEY, pad TEXT)")
conn.commit()
deadline = time.monotonic() + 30
n = 0
while not stop.exists() and time.monotonic() < deadline and n < 200000:
    n += 1
    conn.execute("INSERT INTO writer_rows VALUES (?, ?)", (n, "x" * 500))
    conn.commit()
conn.close()
"""


def count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM writer_rows").fetchone()[0])
    finally:
        conn.close()


def test_round_trip_with_a_live_wal_writer(settings: config.Settings, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(settings.db_path), str(stop)])
    try:
        deadline = time.monotonic() + 20
        before = 0
        while before < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                before = count(settings.db_path)
            except sqlite3.OperationalError:
                before = 0  # table not created yet
        assert before >= 200, "the writer did not start"
        assert settings.db_path.with_name("revisor.db-wal").stat().st_size > 0
        result = backups.backup(settings, tmp_path / "b.tar.gz", include_keys=True)
        assert writer.poll() is None, "the writer must still be running during the backup"
    finally:
        stop.touch()
        writer.wait(timeout=30)
    final = count(settings.db_path)

    target = config.load(tmp_path / "restored", environ={})
    restored = backups.restore(result.path, target.data_dir, keys_archive=result.keys_path)
    assert set(restored.restored) >= {"revisor.db", "audit.db", "queue.db", "revisor.toml"}
    got = count(target.db_path)
    assert before <= got <= final  # a consistent snapshot taken while rows kept coming
    conn = sqlite3.connect(target.db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    rt = Context(target)
    try:
        bad = [c for c in run_doctor(rt, skip={"model_endpoint"}) if not c.ok]
    finally:
        rt.close()
    assert bad == []  # keys restored too: the restored dir is fully usable


def test_keys_are_never_in_the_main_archive(settings: config.Settings, tmp_path: Path) -> None:
    plain = backups.backup(settings, tmp_path / "a.tar.gz")
    assert plain.keys_path is None
    with tarfile.open(plain.path) as tar:
        names = tar.getnames()
    assert not any("key" in n for n in names), names
    assert oct(plain.path.stat().st_mode & 0o777) == "0o600"
    with_keys = backups.backup(settings, tmp_path / "b.tar.gz", include_keys=True)
    assert with_keys.keys_path == tmp_path / "b.keys.tar.gz"
    with tarfile.open(with_keys.path) as tar:
        assert not any("key" in n for n in tar.getnames())
    with tarfile.open(with_keys.keys_path) as tar:
        key_names = tar.getnames()
    assert any(n.startswith("keys/kek-") for n in key_names)
    assert "keys/audit_ed25519.pem" in key_names
    assert oct(with_keys.keys_path.stat().st_mode & 0o777) == "0o600"


def test_backup_does_not_overwrite(settings: config.Settings, tmp_path: Path) -> None:
    out = tmp_path / "a.tar.gz"
    backups.backup(settings, out)
    with pytest.raises(backups.BackupError, match="exists"):
        backups.backup(settings, out)


def test_restore_refuses_a_data_dir_with_databases(
    settings: config.Settings, tmp_path: Path
) -> None:
    archive = backups.backup(settings, tmp_path / "a.tar.gz").path
    before = settings.db_path.read_bytes()
    with pytest.raises(backups.BackupError, match="--force"):
        backups.restore(archive, settings.data_dir)
    assert settings.db_path.read_bytes() == before
    forced = backups.restore(archive, settings.data_dir, force=True)
    assert "revisor.db" in forced.restored
    assert forced.kept == ("revisor.toml",)  # the admin's current config is not replaced
    assert (settings.data_dir / "revisor.toml.from-backup").exists()


def _rewrite(archive: Path, out: Path, change: dict[str, bytes]) -> None:
    """Copy `archive` to `out`, replacing (or adding) members by name."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            assert data is not None
            body = change.pop(member.name, None)
            payload = data.read() if body is None else body
            member.size = len(payload)
            dst.addfile(member, io.BytesIO(payload))
        for name, body in change.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            dst.addfile(info, io.BytesIO(body))


def test_tampered_archive_is_refused_before_anything_changes(
    settings: config.Settings, tmp_path: Path
) -> None:
    made = backups.backup(settings, tmp_path / "a.tar.gz")
    archive, trusted = made.path, made.signed_by
    with tarfile.open(archive) as tar:
        member = tar.extractfile("audit.db")
        assert member is not None
        audit = bytearray(member.read())
    audit[-1] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    _rewrite(archive, bad, {"audit.db": bytes(audit)})
    target = tmp_path / "new"
    with pytest.raises(backups.BackupError, match=r"checksum mismatch for audit\.db"):
        backups.restore(bad, target, trusted=trusted)
    assert not target.exists()

    traversal = tmp_path / "evil.tar.gz"
    _rewrite(archive, traversal, {"../evil": b"x"})
    with pytest.raises(backups.BackupError, match="unexpected member"):
        backups.restore(traversal, target, trusted=trusted)
    assert not (tmp_path / "evil").exists()


def test_keys_archive_is_not_a_data_backup(settings: config.Settings, tmp_path: Path) -> None:
    result = backups.backup(settings, tmp_path / "a.tar.gz", include_keys=True)
    assert result.keys_path is not None
    with pytest.raises(backups.BackupError, match="keys file: pass it with --keys"):
        backups.restore(result.keys_path, tmp_path / "new", trusted=result.signed_by)


def test_cli_backup_verify_restore(
    settings: config.Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.tar.gz"
    d = ["--data-dir", str(settings.data_dir)]
    assert main(["backup", *d, "--out", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert set(written["files"]) >= {"revisor.db", "audit.db", "queue.db"}
    assert main(["restore", *d, str(out), "--verify-only"]) == 0
    assert "checksums ok" in capsys.readouterr().out
    assert main(["restore", *d, str(out)]) == 2  # refused: the databases are there
    assert "--force" in capsys.readouterr().err
    new = tmp_path / "fresh"
    assert main(["restore", "--data-dir", str(new), str(out)]) == 2  # nothing to check it with
    assert "no trusted key" in capsys.readouterr().err
    pinned = ["--fingerprint", written["signed_by"]]
    assert main(["restore", "--data-dir", str(new), str(out), *pinned]) == 0
    assert "no key-encryption key" in capsys.readouterr().out  # keys were not restored
    assert oct(new.stat().st_mode & 0o777) == "0o700"
    assert os.access(new / "revisor.db", os.R_OK)


def test_backup_and_restore_are_audited(
    settings: config.Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def events() -> list[str]:
        with contextlib.closing(AuditLog.from_settings(settings)) as audit:
            return [r["event"] for r in audit.records()]

    out = tmp_path / "audited.tar.gz"
    d = ["--data-dir", str(settings.data_dir)]
    assert main(["backup", *d, "--out", str(out)]) == 0
    assert events()[-1] == "backup.created"
    assert main(["restore", *d, str(out), "--force"]) == 0
    capsys.readouterr()
    # The archive was written before its own record, so the restored log ends with the restore.
    after = events()
    assert after[-1] == "backup.restored"
    assert "backup.created" not in after


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        out = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            assert f is not None
            out[m.name] = f.read()
        return out


def test_altered_backup_with_recomputed_checksums_is_refused(
    settings: config.Settings, tmp_path: Path
) -> None:
    """Checksums alone prove nothing: an attacker recomputes them. The signature does not."""
    made = backups.backup(settings, tmp_path / "a.tar.gz")
    parts = _members(made.path)
    evil_db = parts["revisor.db"] + b"\0"  # any change will do
    manifest = json.loads(parts["manifest.json"])
    manifest["files"]["revisor.db"]["sha256"] = hashlib.sha256(evil_db).hexdigest()
    manifest["files"]["revisor.db"]["size"] = len(evil_db)
    bad = tmp_path / "bad.tar.gz"
    _rewrite(
        made.path,
        bad,
        {"revisor.db": evil_db, "manifest.json": json.dumps(manifest).encode()},
    )
    target = tmp_path / "new"
    with pytest.raises(backups.BackupError, match="signature does not verify"):
        backups.restore(bad, target, trusted=made.signed_by)
    with pytest.raises(backups.BackupError, match="signature does not verify"):
        backups.verify_archive(bad, made.signed_by)
    assert not target.exists()


def test_backup_signed_by_another_key_is_refused(settings: config.Settings, tmp_path: Path) -> None:
    other = config.load(tmp_path / "other", environ={})
    init_data_dir(other)
    theirs = backups.backup(other, tmp_path / "theirs.tar.gz", include_keys=True)
    ours = backups.backup(settings, tmp_path / "ours.tar.gz")
    assert theirs.signed_by != ours.signed_by
    # Into our data dir: our own key is the anchor.
    with pytest.raises(backups.BackupError, match="not by the trusted key"):
        backups.restore(theirs.path, settings.data_dir, force=True)
    # A keys archive cannot vouch for a data backup signed by someone else.
    assert theirs.keys_path is not None
    with pytest.raises(backups.BackupError, match="not by the trusted key"):
        backups.restore(ours.path, tmp_path / "new", keys_archive=theirs.keys_path)
    assert not (tmp_path / "new").exists()
    # An unsigned archive (the format before signing) is refused too.
    unsigned = tmp_path / "unsigned.tar.gz"
    parts = _members(ours.path)
    with tarfile.open(unsigned, "w:gz") as tar:
        for name, body in parts.items():
            if name != "manifest.sig":
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    with pytest.raises(backups.BackupError, match=r"no manifest\.sig"):
        backups.verify_archive(unsigned, ours.signed_by)


def test_extraction_is_bounded_before_anything_is_written(
    settings: config.Settings, tmp_path: Path
) -> None:
    made = backups.backup(settings, tmp_path / "a.tar.gz")
    total = sum(len(b) for b in _members(made.path).values())
    with pytest.raises(backups.BackupError, match="past the limit"):
        backups.verify_archive(made.path, made.signed_by, max_bytes=total // 2)
    assert backups.verify_archive(made.path, made.signed_by, max_bytes=total)["files"]

    # A header that claims a terabyte: refused from the header, nothing read or written.
    bomb = tmp_path / "bomb.tar.gz"
    info = tarfile.TarInfo("revisor.db")
    info.size = 1 << 40
    with gzip.open(bomb, "wb") as raw:
        raw.write(info.tobuf(format=tarfile.GNU_FORMAT))
    with pytest.raises(backups.BackupError, match="past the limit"):
        backups.restore(bomb, tmp_path / "new", trusted=made.signed_by)
    assert not (tmp_path / "new").exists()

    many = tmp_path / "many.tar.gz"
    with tarfile.open(many, "w:gz") as tar:
        for i in range(backups.MAX_MEMBERS + 1):
            tar.addfile(tarfile.TarInfo(f"keys/kek-{i:016x}.key"), io.BytesIO(b""))
    with pytest.raises(backups.BackupError, match="more than"):
        backups.restore(made.path, tmp_path / "new", keys_archive=many)


def test_restored_keys_keep_their_order(settings: config.Settings, tmp_path: Path) -> None:
    """The key ring takes the newest key-encryption key as current; a restore must not make
    another key current by copying the files in name order."""
    from revisor.secrets import KeyRing

    keys_dir = settings.keys_dir
    for _ in range(3):
        KeyRing.create_key(keys_dir)
    kek_files = sorted(keys_dir.glob("kek-*.key"))
    # The alphabetically first key is the newest: a name-order copy would get this wrong.
    for age, path in enumerate(reversed(kek_files)):
        stamp = 1_700_000_000_000_000_000 + age * 10**9
        os.utime(path, ns=(stamp, stamp))
    before = KeyRing.load(keys_dir).current
    assert before == bytes.fromhex(kek_files[0].name[4:-4])
    made = backups.backup(settings, tmp_path / "a.tar.gz", include_keys=True)
    target = tmp_path / "new"
    backups.restore(made.path, target, keys_archive=made.keys_path)
    assert KeyRing.load(target / "keys").current == before
