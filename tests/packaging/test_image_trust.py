"""The image build trusts the bundle the way an appliance does: pinned key, verified first.

`build_image.sh` needs root and mmdebstrap; these tests put a stub `mmdebstrap` first on PATH
that only reports it was reached, so they check everything the script does before debootstrap:
the key must be pinned and the tarball verified (and its members listed) by the tree's own
verify-bundle.sh before anything is unpacked or downloaded.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.packaging import tiny

SCRIPT = tiny.PACKAGING / "image" / "build_image.sh"
REACHED = "stub mmdebstrap reached"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="build_image.sh runs as root only")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[tiny.Key, tiny.Key]:
    where = tmp_path_factory.mktemp("keys")
    return tiny.make_key(where, "release"), tiny.make_key(where, "other")


@pytest.fixture(scope="module")
def bundle(keys: tuple[tiny.Key, tiny.Key], tmp_path_factory: pytest.TempPathFactory) -> Path:
    version = tomllib.loads((tiny.ROOT / "pyproject.toml").read_text())["project"]["version"]
    return tiny.build(tmp_path_factory.mktemp("image"), version, keys[0])


def build_image(bundle: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    stub = stubs / "mmdebstrap"
    stub.write_text(f"#!/bin/sh\necho '{REACHED}'\nexit 3\n")
    stub.chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASE_", "REVISOR_"))}
    return subprocess.run(
        [str(SCRIPT), str(bundle), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**clean, "PATH": f"{stubs}:{os.environ['PATH']}", **env},
    )


def test_refused_without_a_pinned_key(bundle: Path, tmp_path: Path) -> None:
    proc = build_image(bundle, tmp_path)
    assert proc.returncode == 1
    assert "no pinned key" in proc.stderr
    assert REACHED not in proc.stdout


def test_refused_when_signed_by_another_key(
    bundle: Path, tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    proc = build_image(bundle, tmp_path, RELEASE_PUBKEY=str(keys[1].public))
    assert proc.returncode == 1
    assert "BAD SIGNATURE" in proc.stderr
    assert REACHED not in proc.stdout


def test_refused_with_a_wrong_fingerprint(
    bundle: Path, tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    proc = build_image(
        bundle,
        tmp_path,
        RELEASE_PUBKEY=str(keys[0].public),
        RELEASE_FINGERPRINT=keys[1].fingerprint,
    )
    assert proc.returncode == 1
    assert "not the pinned" in proc.stderr
    assert REACHED not in proc.stdout


def test_verified_bundle_goes_on(
    bundle: Path, tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    """With the signing key's public half pinned, it verifies, unpacks and reaches debootstrap."""
    proc = build_image(bundle, tmp_path, REVISOR_BUNDLE_SIGNING_KEY=str(keys[0].private))
    assert proc.returncode == 3, proc.stderr
    assert REACHED in proc.stdout
    assert f"signed by key {keys[0].fingerprint}" in proc.stderr
