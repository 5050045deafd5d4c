"""`revisor doctor`: a healthy data dir passes; each kind of damage fails with a fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from revisor import config
from revisor.cli import main
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.ops import checks
from revisor.ops.checks import Check
from revisor.ops.doctor import run_doctor
from revisor.store import repos, servers
from revisor.store.db import connect, pending_migrations
from tests.ops.conftest import TOKEN, FakeForgeApi

NO_MODEL = {"model_endpoint"}


def doctor(settings: config.Settings, skip: set[str] = NO_MODEL) -> list[Check]:
    rt = Context(settings)
    try:
        return run_doctor(rt, skip=skip, timeout=3.0)
    finally:
        rt.close()


def by_name(results: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in results}


def failures(results: list[Check]) -> list[Check]:
    return [c for c in results if not c.ok]


def test_a_fresh_data_dir_is_healthy(settings: config.Settings) -> None:
    results = doctor(settings)
    assert failures(results) == []
    names = by_name(results)
    for expected in ("permissions", "keys:kek", "keys:audit", "database:revisor.db",
                     "database:audit.db", "database:queue.db", "migrations", "queue", "disk",
                     "egress"):  # fmt: skip
        assert names[expected].ok, expected
        assert not names[expected].skipped, expected
    assert names["model:smollm2-135m-instruct-q4_1"].ok  # the bundled model's sha256
    assert names["ldap"].skipped
    assert names["forges"].skipped


def test_cli_exit_code_and_json(
    settings: config.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["doctor", "--data-dir", str(settings.data_dir), "--json", "--skip", "model_endpoint"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    os.chmod(settings.data_dir, 0o755)  # noqa: S103 (the damage under test)
    assert main(args) == 1
    data = json.loads(capsys.readouterr().out)
    bad = [c for c in data["checks"] if not c["ok"]]
    assert [c["name"] for c in bad] == ["permissions"]
    assert f"chmod 0700 {settings.data_dir}" in bad[0]["fix"]


def test_key_file_readable_by_group_fails(settings: config.Settings) -> None:
    kek = next(settings.keys_dir.glob("kek-*.key"))
    os.chmod(kek, 0o640)
    check = by_name(doctor(settings))["permissions"]
    assert not check.ok
    assert f"chmod 0600 {kek}" in check.fix


def test_missing_key_fails_with_restore_advice(settings: config.Settings) -> None:
    for kek in settings.keys_dir.glob("kek-*.key"):
        kek.unlink()
    (settings.keys_dir / "audit_ed25519.pem").unlink()
    names = by_name(doctor(settings, skip=NO_MODEL | {"forges"}))
    assert not names["keys:kek"].ok
    assert "restore keys/" in names["keys:kek"].fix
    assert not names["keys:audit"].ok
    assert "audit_ed25519.pem" in names["keys:audit"].fix


def test_corrupted_database_fails_and_stops_before_runtime_checks(
    settings: config.Settings,
) -> None:
    raw = bytearray(settings.db_path.read_bytes())
    raw[:16] = b"not a database!!"
    settings.db_path.write_bytes(bytes(raw))
    results = doctor(settings)
    names = by_name(results)
    assert not names["database:revisor.db"].ok
    assert "revisor restore" in names["database:revisor.db"].fix
    assert names["database:audit.db"].ok
    assert names["configuration"].skipped
    assert "egress" not in names  # nothing opened the broken database through the runtime


def test_damaged_page_is_found_by_integrity_check(settings: config.Settings) -> None:
    db = connect(settings.db_path)
    db["filler"].insert_all({"n": i, "s": "x" * 200} for i in range(2000))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    raw = bytearray(settings.db_path.read_bytes())
    page = 4096
    for i in range(page * 5, page * 5 + 300):  # scribble over an interior page
        raw[i] = 0xFF
    settings.db_path.write_bytes(bytes(raw))
    check = by_name(doctor(settings))["database:revisor.db"]
    assert not check.ok
    assert check.fix


def test_pending_migration_is_reported_not_applied(settings: config.Settings) -> None:
    db = connect(settings.db_path)
    with db.conn:
        db.execute("DELETE FROM _migrations WHERE name = '003_auth'")
    db.conn.close()
    check = by_name(doctor(settings))["migrations"]
    assert not check.ok
    assert "003_auth" in check.detail
    assert "revisor init" in check.fix
    db = connect(settings.db_path)
    assert pending_migrations(db) == ["003_auth"]  # the doctor only looked
    db.conn.close()


def test_model_with_wrong_digest_fails(settings: config.Settings, tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 60)
    (settings.data_dir / "models.toml").write_text(
        f'[models.tiny]\nfile = "{model}"\nsha256 = "{"0" * 64}"\nsize = 64\n'
        'engine = "llama.cpp"\ncontext = 2048\n'
    )
    check = by_name(doctor(settings))["model:tiny"]
    assert not check.ok
    assert "sha256" in check.detail
    assert "offline bundle" in check.fix


def test_a_default_pack_model_not_yet_assembled_says_how_to_get_it(tmp_path: Path) -> None:
    qwen = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    s = config.load(tmp_path, environ={"REVISOR_MODEL__DEFAULT_MODEL": qwen})
    found = by_name(checks.check_models(s))
    assert not found[f"model:{qwen}"].ok
    assert found[f"model:{qwen}"].fix.startswith("revisor model fetch-pack qwen2.5-coder-1.5b,")
    assert found["model:qwen2.5-coder-0.5b-instruct-q4_k_m"].skipped  # not the default: no failure
    assert found["model:smollm2-135m-instruct-q4_1"].ok


def test_model_endpoint_down_fails_with_fix(settings: config.Settings) -> None:
    down = config.load(
        settings.data_dir, environ={"REVISOR_MODEL__SIDECAR_PORT": "9"}
    )  # nothing listens on the discard port
    check = by_name(doctor(down, skip=set()))["model_endpoint"]
    assert not check.ok
    assert "revisor-sidecar" in check.fix


def _register(settings: config.Settings, forge: ForgeKind, url: str, project: str) -> None:
    rt = Context(settings)
    try:
        servers.allow(rt.db, url, added_by="test")
        repos.add(rt.db, rt.keys, forge=forge, server=url, project=project, token=TOKEN,
                  webhook_secret="w" * 20)  # fmt: skip
    finally:
        rt.close()


def test_gitlab_token_and_project_ok(settings: config.Settings, forge_api: FakeForgeApi) -> None:
    _register(settings, ForgeKind.GITLAB, forge_api.url, "group/app")
    names = by_name(doctor(settings))
    assert names["forge:1"].ok, names["forge:1"]
    assert "scope api" in names["forge:1"].detail
    assert names["clock"].ok
    assert not names["clock"].skipped


def test_gitlab_token_without_api_scope_fails(
    settings: config.Settings, forge_api: FakeForgeApi
) -> None:
    forge_api.scopes = ["read_api"]
    _register(settings, ForgeKind.GITLAB, forge_api.url, "group/app")
    check = by_name(doctor(settings))["forge:1"]
    assert not check.ok
    assert "read_api" in check.detail
    assert "`api` scope" in check.fix


def test_gitlab_revoked_token_and_unknown_project_fail(
    settings: config.Settings, forge_api: FakeForgeApi
) -> None:
    _register(settings, ForgeKind.GITLAB, forge_api.url, "group/other")
    check = by_name(doctor(settings))["forge:1"]
    assert not check.ok
    assert "group/other" in check.detail
    forge_api.token = "rotated"
    check = by_name(doctor(settings))["forge:1"]
    assert not check.ok
    assert "401" in check.detail


def test_gitea_needs_write_access(settings: config.Settings, forge_api: FakeForgeApi) -> None:
    _register(settings, ForgeKind.GITEA, forge_api.url, "group/app")
    assert by_name(doctor(settings))["forge:1"].ok
    forge_api.gitea_push = False
    check = by_name(doctor(settings))["forge:1"]
    assert not check.ok
    assert "write access" in check.fix


def test_unreachable_git_server_fails(settings: config.Settings) -> None:
    _register(settings, ForgeKind.GITLAB, "http://127.0.0.1:9", "group/app")
    check = by_name(doctor(settings))["forge:1"]
    assert not check.ok
    assert "unreachable" in check.detail
    assert "firewall" in check.fix


def test_clock_skew() -> None:
    assert checks.check_clock([("https://git", 1000.0)], now=1010.0).ok
    bad = checks.check_clock([("https://a", 1000.0), ("https://b", 1400.0)], now=1000.0)
    assert not bad.ok
    assert "https://b" in bad.detail
    assert "timedatectl" in bad.fix
    assert checks.check_clock([], now=0).skipped


def test_cleartext_token_to_remote_host_fails(settings: config.Settings) -> None:
    check = checks.check_egress(settings, ["http://gitlab.internal"], [])
    assert not check.ok
    assert "HTTPS" in check.fix
    assert checks.check_egress(settings, ["https://gitlab.internal"], []).ok


def test_disk_threshold(tmp_path: Path) -> None:
    assert checks.check_disk(tmp_path, min_free=1).ok
    low = checks.check_disk(tmp_path, min_free=1 << 60)
    assert not low.ok
    assert "free space" in low.fix


def test_ldap_unreachable_fails(settings: config.Settings, tmp_path: Path) -> None:
    pw = tmp_path / "bind.pw"
    pw.write_text("secret")
    ldap = config.LdapSettings(
        enabled=True,
        servers=("ldaps://127.0.0.1:9",),
        bind_dn="cn=revisor,dc=example,dc=org",
        bind_password_file=str(pw),
        user_base="ou=people,dc=example,dc=org",
        connect_timeout_seconds=1.0,
    )
    from revisor.egress import Egress

    check = checks.check_ldap(ldap, Egress.from_urls(["ldaps://127.0.0.1:9"]))
    assert not check.ok
    assert "127.0.0.1:9" in check.detail
    assert check.fix
