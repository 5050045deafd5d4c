"""The command-line contract that admins' scripts rely on."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from revisor import config
from revisor.cli import main
from revisor.context import Context
from revisor.store import jobs


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}


def test_init_creates_everything_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "data"
    code, out, _ = run(capsys, "init", "--data-dir", str(d), "--json")
    assert code == 0
    first = json.loads(out)
    assert len(first["admin_password"]) >= 20
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    keys = list((d / "keys").iterdir())
    assert {k.name.split("-")[0] for k in keys} >= {"kek", "audit_ed25519.pem"}
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for name in ("revisor.toml", "revisor.db", "audit.db", "queue.db"):
        assert (d / name).exists()
    before = snapshot(d)
    code, out, _ = run(capsys, "init", "--data-dir", str(d), "--json")
    assert code == 0
    again = json.loads(out)
    assert again["created"] == []
    assert "admin_password" not in again
    after = snapshot(d)
    changed = {p for p in before if not p.endswith(("-wal", "-shm")) and before[p] != after.get(p)}
    assert changed == set()


def test_data_dir_from_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVISOR_DATA_DIR", str(tmp_path / "env-data"))
    assert run(capsys, "init")[0] == 0
    assert (tmp_path / "env-data" / "revisor.toml").exists()


def test_repo_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "data")
    run(capsys, "init", "--data-dir", d)
    assert run(capsys, "server", "add", "https://gitlab.internal", "--data-dir", d)[0] == 0
    token = tmp_path / "token"
    token.write_text("glpat-cli-test-token-123456\n")
    code, out, _ = run(
        capsys,
        "repo",
        "add",
        "gitlab",
        "--server",
        "https://gitlab.internal/",
        "--project",
        "group/app",
        "--token-file",
        str(token),
        "--data-dir",
        d,
        "--json",
    )
    assert code == 0
    added = json.loads(out)
    # its own hook URL: one secret to check per delivery
    assert len(added["hook_key"]) >= 16
    assert added["webhook_url"] == f"http://127.0.0.1:8080/hooks/gitlab/{added['hook_key']}"
    assert added["webhook_url"] in out
    assert len(added["webhook_secret"]) >= 32
    assert added["server"] == "https://gitlab.internal"
    # the token is stored sealed: not in the database file in plaintext
    db_bytes = b"".join(p.read_bytes() for p in Path(d).glob("revisor.db*"))
    assert b"glpat-cli-test-token-123456" not in db_bytes
    assert added["webhook_secret"].encode() not in db_bytes
    code, out, err = run(
        capsys,
        "repo",
        "add",
        "gitlab",
        "--server",
        "https://gitlab.internal",
        "--project",
        "group/app",
        "--token-file",
        str(token),
        "--data-dir",
        d,
    )
    assert code == 2
    assert "already registered" in err
    code, out, _ = run(capsys, "repo", "list", "--data-dir", d, "--json")
    assert [r["project"] for r in json.loads(out)] == ["group/app"]
    assert "token" not in out
    code, out, _ = run(capsys, "repo", "remove", str(added["id"]), "--data-dir", d, "--json")
    assert code == 0
    assert json.loads(run(capsys, "repo", "list", "--data-dir", d, "--json")[1]) == []


def test_repo_add_rejects_short_secret_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path / "data")
    run(capsys, "init", "--data-dir", d)
    assert run(capsys, "server", "add", "https://gitea.internal", "--data-dir", d)[0] == 0
    token = tmp_path / "token"
    token.write_text("tok-123456789")
    short = tmp_path / "short"
    short.write_text("abc")
    code, _, err = run(
        capsys,
        "repo",
        "add",
        "gitea",
        "--server",
        "https://gitea.internal",
        "--project",
        "o/r",
        "--token-file",
        str(token),
        "--webhook-secret-file",
        str(short),
        "--data-dir",
        d,
    )
    assert code == 2
    assert "at least 16 characters" in err
    code, _, err = run(
        capsys,
        "repo",
        "add",
        "gitea",
        "--server",
        "https://gitea.internal",
        "--project",
        "o/r",
        "--token-file",
        str(tmp_path / "missing"),
        "--data-dir",
        d,
    )
    assert code == 2
    assert "cannot read secret file" in err


def test_jobs_list_show_retry_cancel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "data"
    run(capsys, "init", "--data-dir", str(d))
    assert run(capsys, "server", "add", "https://gl.internal", "--data-dir", str(d))[0] == 0
    token = tmp_path / "token"
    token.write_text("tok-123456789")
    run(
        capsys,
        "repo",
        "add",
        "gitlab",
        "--server",
        "https://gl.internal",
        "--project",
        "g/p",
        "--token-file",
        str(token),
        "--data-dir",
        str(d),
    )
    rt = Context(config.load(d, environ={}))
    queued = jobs.create(rt.db, repo_id=1, mr_number=3, head_sha="a" * 40, trigger="open")
    failed = jobs.create(rt.db, repo_id=1, mr_number=4, head_sha="b" * 40, trigger="open")
    jobs.lease(rt.db, failed, "w", 60)
    jobs.finish(rt.db, failed, "w", "failed", error="token lacks api scope")
    rt.close()

    _, out, _ = run(capsys, "jobs", "list", "--data-dir", str(d), "--json")
    assert {j["id"]: j["state"] for j in json.loads(out)} == {queued: "queued", failed: "failed"}
    _, out, _ = run(capsys, "jobs", "list", "--state", "failed", "--data-dir", str(d), "--json")
    assert [j["id"] for j in json.loads(out)] == [failed]
    _, out, _ = run(capsys, "jobs", "show", str(failed), "--data-dir", str(d), "--json")
    assert json.loads(out)["last_error"] == "token lacks api scope"
    assert run(capsys, "jobs", "retry", str(queued), "--data-dir", str(d))[0] == 2
    assert run(capsys, "jobs", "retry", str(failed), "--data-dir", str(d))[0] == 0
    assert run(capsys, "jobs", "cancel", str(queued), "--data-dir", str(d))[0] == 0
    _code, out, _ = run(capsys, "jobs", "list", "--data-dir", str(d), "--json")
    assert {j["id"]: j["state"] for j in json.loads(out)} == {queued: "cancelled", failed: "queued"}
    assert run(capsys, "jobs", "show", "999", "--data-dir", str(d))[0] == 2


def test_commands_need_an_initialised_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "jobs", "list", "--data-dir", str(tmp_path / "nope"))
    assert code == 2
    assert "revisor init" in err
