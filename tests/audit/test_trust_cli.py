"""`revisor audit export|verify` and `revisor keys rotate` through the real CLI entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from revisor import config
from revisor.audit import AuditLog, Event
from revisor.cli import main
from revisor.domain import ForgeKind
from revisor.secrets import KeyRing
from revisor.store import repos
from revisor.store.db import open_database
from secret_scan import assert_no_plaintext

TOKEN = "glpat-CliPlantedToken-98765"
HOOK = "cli-planted-webhook-secret-4321"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    assert main(["init", "--data-dir", str(d)]) == 0
    settings = config.load(d, environ={})
    db = open_database(settings.db_path)
    repos.add(
        db,
        KeyRing.load(settings.keys_dir),
        forge=ForgeKind.GITLAB,
        server="https://git.internal",
        project="grp/app",
        token=TOKEN,
        webhook_secret=HOOK,
    )
    db.conn.close()
    log = AuditLog(settings.audit_path)
    for i in range(7):
        log.record(
            Event.SIGNIN_SUCCEEDED, actor=f"user:u{i}", target=f"user:u{i}", source="10.0.0.9"
        )
    log.close()
    return d


def test_export_verify_and_tamper(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exp"
    assert (
        main(
            [
                "audit",
                "export",
                "--data-dir",
                str(data_dir),
                "--out",
                str(out),
                "--format",
                "syslog",
                "--format",
                "cef",
                "--json",
            ]
        )
        == 0
    )
    exported = json.loads(capsys.readouterr().out)
    assert exported["count"] >= 7
    assert (out / "audit.syslog").read_text().count("auth.signin.succeeded") == 7

    assert main(["audit", "verify", str(out), "--key", exported["fingerprint"]]) == 0
    assert capsys.readouterr().out.startswith("OK:")

    rows = (out / "records.jsonl").read_text().splitlines()
    target = next(i for i, line in enumerate(rows) if "user:u3" in line)
    seq = json.loads(rows[target])["seq"]
    rows[target] = rows[target].replace("user:u3", "user:ux")
    (out / "records.jsonl").write_text("\n".join(rows) + "\n")
    assert main(["audit", "verify", str(out)]) == 1
    assert f"first bad record is seq {seq}" in capsys.readouterr().out


def test_verify_needs_no_data_dir(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "exp"
    assert main(["audit", "export", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(out, moved)
    shutil.rmtree(data_dir)
    missing = tmp_path / "no-such-data-dir"
    monkeypatch.setenv("REVISOR_DATA_DIR", str(missing))
    assert main(["audit", "verify", str(moved)]) == 0
    assert not missing.exists()


def test_export_is_audited(data_dir: Path, tmp_path: Path) -> None:
    assert main(["audit", "export", "--data-dir", str(data_dir), "--out", str(tmp_path / "e")]) == 0
    log = AuditLog(data_dir / "audit.db")
    last = list(log.records())[-1]
    log.close()
    assert last["event"] == "audit.exported"
    assert last["actor"].startswith("cli:")


def test_rotate_delete_old_and_no_plaintext_anywhere(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = {p.name for p in (data_dir / "keys").glob("kek-*.key")}
    assert main(["keys", "rotate", "--data-dir", str(data_dir)]) == 0
    assert "can now be deleted" in capsys.readouterr().out
    assert {p.name for p in (data_dir / "keys").glob("kek-*.key")} > old
    assert main(["keys", "rotate", "--data-dir", str(data_dir), "--delete-old", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["deleted"]) == 2
    assert [p.name for p in (data_dir / "keys").glob("kek-*.key")] == [
        f"kek-{result['new_key']}.key"
    ]

    settings = config.load(data_dir, environ={})
    db = open_database(settings.db_path)
    (repo,) = repos.list_all(db)
    secrets = repos.load_secrets(db, KeyRing.load(settings.keys_dir), repo)
    db.conn.close()
    assert (secrets.token, secrets.webhook_secret) == (TOKEN, HOOK)

    log = AuditLog(settings.audit_path)
    rotated = [r for r in log.records() if r["event"] == "keys.rotated"]
    log.close()
    assert len(rotated) == 2
    assert rotated[1]["details"]["resealed"] == 2

    out = tmp_path / "exp"
    assert (
        main(
            [
                "audit",
                "export",
                "--data-dir",
                str(data_dir),
                "--out",
                str(out),
                "--format",
                "syslog,cef",
            ]
        )
        == 0
    )
    archive = shutil.make_archive(str(tmp_path / "backup"), "gztar", data_dir)
    assert_no_plaintext([data_dir, out, archive], [TOKEN, HOOK])
