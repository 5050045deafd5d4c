"""`revisor audit verify` takes the .tar.gz the dashboard downloads, and refuses an archive
that is not a plain export (links, paths outside, several folders) before writing anything."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from tests.audit.test_trust_cli import data_dir  # noqa: F401 (the fixture)

from revisor.audit import bundle
from revisor.cli import main


def _tar(out: Path, members: dict[str, bytes], *, link: str = "") -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return out


def test_verify_accepts_the_downloaded_tarball_and_catches_tampering(
    tmp_path: Path,
    data_dir: Path,  # noqa: F811
) -> None:
    out = tmp_path / "exp"
    assert main(["audit", "export", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    files = {f"revisor-audit-1-7/{p.name}": p.read_bytes() for p in out.iterdir()}
    good = _tar(tmp_path / "good.tar.gz", files)
    assert main(["audit", "verify", str(good)]) == 0
    name = "revisor-audit-1-7/records.jsonl"
    files[name] = files[name].replace(b"u3", b"u4", 1)
    assert main(["audit", "verify", str(_tar(tmp_path / "bad.tar.gz", files))]) == 1


@pytest.mark.parametrize(
    ("members", "link", "says"),
    [
        ({"../evil": b"x"}, "", "outside the bundle"),
        ({"/etc/evil": b"x"}, "", "outside the bundle"),
        ({"a/records.jsonl": b""}, "a/public_key.pem", "not a regular file"),
        ({"a/x": b"", "b/y": b""}, "", "not one export folder"),
        ({"a/deep/x": b""}, "", "unexpected entry"),
    ],
)
def test_a_hostile_archive_is_refused_before_anything_is_written(
    tmp_path: Path, members: dict[str, bytes], link: str, says: str
) -> None:
    archive = _tar(tmp_path / "x.tar.gz", members, link=link)
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(bundle.BundleError, match=says):
        bundle.unpack(archive, into)
    assert list(into.iterdir()) == []


def test_not_an_archive_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    assert main(["audit", "verify", str(junk)]) == 1
