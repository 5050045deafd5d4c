"""`revisor support-bundle`: what goes in, the manifest, and that no secret comes out.

Secrets are planted everywhere the appliance keeps them (repository token and webhook secret,
model API key file, LDAP bind password file, the sidecar key, the key-encryption key) *and*,
to prove the scrubbing, in the log files themselves, as if some code had leaked them.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from revisor import config
from revisor.cli import main
from revisor.cli.observe import mask_config, mask_toml_text, write_bundle
from revisor.context import Context
from tests.secret_scan import assert_no_plaintext
from tests.worker.conftest import GL_TOKEN, MODEL_KEY, Appliance, appliance  # noqa: F401

WEBHOOK_SECRET = "webhook-secret-for-tests-0123"  # registered by the appliance fixture
LDAP_PASSWORD = "ldap-bind-password-planted-4242"
SIDECAR_KEY = "sidecar-key-planted-0000111122223333"
GENERIC = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a credential nobody registered


@pytest.fixture
def planted(appliance: Appliance) -> tuple[Context, list[str]]:  # noqa: F811
    root = appliance.root
    (root / "ldap.pw").write_text(LDAP_PASSWORD + "\n")
    toml = appliance.settings.data_dir / "revisor.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[ldap]\nbind_password_file = "{root / "ldap.pw"}"\n'
        + 'bind_dn = "cn=revisor,dc=example,dc=org"\n'
    )
    (appliance.settings.keys_dir / "sidecar-api.key").write_text(SIDECAR_KEY)
    settings = config.load(appliance.settings.data_dir, environ={})
    logs = settings.log_dir
    (logs / "worker.log").write_text(
        '{"msg": "job started", "job_id": 1}\n'
        f'{{"msg": "oops {GL_TOKEN} and {MODEL_KEY}"}}\n'
        f'{{"msg": "secret {WEBHOOK_SECRET} pw {LDAP_PASSWORD} side {SIDECAR_KEY}"}}\n'
        f'{{"msg": "leaked Authorization: token {GENERIC}"}}\n'
        '{"msg": "posted 1 comment(s)", "job_id": 1}\n'
    )
    (logs / "web.log").write_text("x" * 4000 + "\n" + '{"msg": "the last web line"}\n')
    rt = Context(settings)
    return rt, [GL_TOKEN, MODEL_KEY, WEBHOOK_SECRET, LDAP_PASSWORD, SIDECAR_KEY, GENERIC]


def extract(bundle: Path, into: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        tar.extractall(into, filter="data")
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_no_planted_secret_reaches_the_bundle(
    planted: tuple[Context, list[str]], tmp_path: Path
) -> None:
    rt, secrets = planted
    out = tmp_path / "bundle.tar.gz"
    write_bundle(rt, out, log_tail_bytes=1024)
    files = extract(out, tmp_path / "x")
    assert_no_plaintext([out, tmp_path / "x"], secrets)
    kek = next(rt.settings.keys_dir.glob("kek-*.key")).read_bytes()  # raw bytes, not text
    for data in files.values():
        assert kek not in data
        assert kek.hex().encode() not in data
    # the scrubbing kept the lines, only the secrets went
    worker_log = files["logs/worker.log"].decode()
    assert "job started" in worker_log
    assert "posted 1 comment(s)" in worker_log
    assert worker_log.count("[REDACTED") >= 4
    rt.close()


def test_bundle_contents_and_manifest(
    planted: tuple[Context, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = planted
    monkeypatch.setattr("revisor.cli.observe.doctor_output", lambda _rt: "doctor says hi\n")
    out = tmp_path / "bundle.tar.gz"
    manifest = write_bundle(rt, out, log_tail_bytes=1024)
    files = extract(out, tmp_path / "x")
    rt.close()
    assert out.stat().st_mode & 0o777 == 0o600
    expected = {
        "logs/worker.log",
        "logs/web.log",
        "config/revisor.toml",
        "config/effective.json",
        "versions.json",
        "migrations.json",
        "status.json",
        "doctor.txt",
        "metrics.txt",
        "MANIFEST.json",
    }
    assert expected <= set(files)
    assert not any(name.startswith("keys/") or name.endswith(".db") for name in files)
    on_disk = json.loads(files["MANIFEST.json"])
    assert on_disk == json.loads(json.dumps(manifest))
    listed = {e["path"]: e for e in on_disk["files"]}
    assert set(listed) == set(files) - {"MANIFEST.json"}
    for name, entry in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == entry["sha256"], name
    # logs are tails, cut at a line boundary
    web = files["logs/web.log"].decode()
    assert web.endswith('{"msg": "the last web line"}\n')
    assert len(web) <= 1024
    assert not web.startswith("x")
    versions = json.loads(files["versions.json"])
    assert versions["revisor"]
    assert (
        "prometheus-client" in versions["packages"] or "prometheus_client" in versions["packages"]
    )
    migrations = json.loads(files["migrations.json"])
    assert migrations["pending"] == []
    assert any(m["name"].startswith("001") for m in migrations["applied"])
    assert "revisor_jobs" in files["metrics.txt"].decode()
    assert files["doctor.txt"] == b"doctor says hi\n"
    effective = json.loads(files["config/effective.json"])
    assert effective["settings"]["ldap"]["bind_password_file"].endswith("ldap.pw")


def test_cli_writes_the_bundle(
    appliance: Appliance,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("revisor.cli.observe.doctor_output", lambda _rt: "skipped\n")
    out = tmp_path / "b.tgz"
    code = main(
        ["support-bundle", "--data-dir", str(appliance.settings.data_dir), "--out", str(out)]
    )
    assert code == 0
    with tarfile.open(out) as tar:
        assert any(m.name.endswith("/MANIFEST.json") for m in tar.getmembers())


def test_doctor_absence_is_noted(
    planted: tuple[Context, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = planted
    monkeypatch.setattr("revisor.cli.SUBCOMMAND_MODULES", ("revisor.cli.core",))
    write_bundle(rt, tmp_path / "b.tgz")
    files = extract(tmp_path / "b.tgz", tmp_path / "x")
    rt.close()
    assert files["doctor.txt"] == b"revisor doctor is not available in this build.\n"


def test_masking_of_configuration() -> None:
    masked = mask_config(
        {
            "ldap": {"bind_password": "hunter2hunter2", "bind_password_file": "/etc/pw"},
            "x": {"api_key": "k" * 10, "token": "", "secret_list": ["a1b2c3d4"]},
            "server": {"port": 8080},
        }
    )
    assert masked["ldap"] == {"bind_password": "[MASKED]", "bind_password_file": "/etc/pw"}
    assert masked["x"] == {"api_key": "[MASKED]", "token": "", "secret_list": ["[MASKED]"]}
    assert masked["server"] == {"port": 8080}
    text = mask_toml_text('[x]\napi_key = "abc123456"\n# token = "zzz999999"\nport = 1\n')
    assert "abc123456" not in text
    assert "zzz999999" not in text
    assert "port = 1" in text
