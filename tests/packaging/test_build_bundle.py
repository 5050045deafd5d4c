"""build_bundle.py: the release signing key stays outside the tree and private; links stay out."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.packaging import tiny


def test_a_signing_key_inside_the_tree_is_refused() -> None:
    bb = tiny.builder()
    with pytest.raises(SystemExit, match="inside the source tree"):
        bb.signing_key_path(tiny.ROOT / "packaging" / "keys" / "bundle_ed25519.pem")


def test_default_signing_key_is_outside_the_tree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REVISOR_BUNDLE_SIGNING_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = tiny.builder().signing_key_path(None)
    assert path == tmp_path / "config" / "revisor" / "release-signing-key.pem"


def test_a_new_key_is_private(tmp_path: Path) -> None:
    bb = tiny.builder()
    path = tmp_path / "k" / "release.pem"
    bb.load_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bb.load_signing_key(path).public_key() is not None  # loads again, same file


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path, "release")
    os.chmod(key.private, 0o640)
    with pytest.raises(SystemExit, match="readable by others"):
        tiny.builder().load_signing_key(key.private)


def test_published_fingerprint_is_openssls(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path, "release")
    tarball = tiny.build(tmp_path, "2.0.0", key)
    published = (tarball.parent / "revisor-release-key.fingerprint").read_text().strip()
    assert published == key.fingerprint


def test_links_are_never_packed(tmp_path: Path) -> None:
    top = tiny.stage(tmp_path / "s", "2.0.0")
    (top / "docs" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(SystemExit, match="not a file or directory"):
        tiny.builder().pack(top, tmp_path / "dist")
