"""install.sh trusts only a key it already has, and no name from the bundle reaches `rm`.

Every install runs the real install.sh (real openssl, sha256sum, pip into a real venv) from a
tiny bundle (tests/packaging/tiny.py) with `--no-systemd` under a temporary prefix: it writes
nothing outside tmp_path. The release key of a `--no-systemd` install is kept in
`<prefix>/release-key.pem` (with systemd: /etc/revisor/release-key.pem).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.packaging import tiny


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[tiny.Key, tiny.Key]:
    where = tmp_path_factory.mktemp("keys")
    return tiny.make_key(where, "release"), tiny.make_key(where, "other")


def unpacked(where: Path, version: str, key: tiny.Key) -> Path:
    """A tiny release built, published, verified with its pin and unpacked into its dist/."""
    tarball = tiny.build(where, version, key)
    proc = tiny.run([tiny.VERIFIER, "--pubkey", key.public, "--extract", tarball.parent, tarball])
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


def resign(top: Path, key: tiny.Key) -> None:
    """Re-sign an unpacked tree after a change: what a release key holder could publish."""
    (top / "SHA256SUMS").unlink()
    (top / "SHA256SUMS.sig").unlink()
    tiny.sign_stage(top, key)


@pytest.fixture
def release(tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]) -> Path:
    return unpacked(tmp_path / "r", "1.0.0", keys[0])


def test_refused_without_a_pin(release: Path, tmp_path: Path) -> None:
    proc = tiny.install(release, tmp_path / "p")
    assert proc.returncode == 1
    assert "no pinned key" in proc.stderr
    assert not (tmp_path / "p").exists()


def test_a_key_inside_the_bundle_is_never_used(
    tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    """An attacker's bundle that carries its own key, in the old layout, signed by that key."""
    top = tiny.stage(tmp_path / "s", "1.0.0")
    shutil.copy(keys[1].public, top / "bundle_ed25519.pub.pem")
    bb = tiny.builder()  # signs without listing the key, as the old builder did
    bb.UNSIGNED = ("SHA256SUMS", "SHA256SUMS.sig", "bundle_ed25519.pub.pem")
    bb.sign(top, bb.load_signing_key(keys[1].private))
    unpinned = tiny.install(top, tmp_path / "p")
    assert unpinned.returncode == 1
    assert "no pinned key" in unpinned.stderr
    pinned = tiny.install(top, tmp_path / "p", "--pubkey", keys[0].public)
    assert pinned.returncode == 1
    assert "BAD SIGNATURE" in pinned.stderr
    assert not (tmp_path / "p").exists()


def test_refused_with_another_key(
    release: Path, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    proc = tiny.install(release, tmp_path / "p", "--pubkey", keys[1].public)
    assert proc.returncode == 1
    assert "BAD SIGNATURE" in proc.stderr
    wrong_pin = tiny.install(
        release, tmp_path / "p", "--pubkey", keys[0].public, "--fingerprint", keys[1].fingerprint
    )
    assert wrong_pin.returncode == 1
    assert "not the pinned" in wrong_pin.stderr
    assert not (tmp_path / "p").exists()


def test_refused_when_one_byte_changed(
    release: Path, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    unit = release / "appliance" / "revisor-web.service"
    data = bytearray(unit.read_bytes())
    data[10] ^= 0x01
    unit.write_bytes(bytes(data))
    proc = tiny.install(release, tmp_path / "p", "--pubkey", keys[0].public)
    assert proc.returncode == 1
    assert "CHECKSUM MISMATCH" in proc.stderr
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("version", ["../../etc", "1.0;rm -rf /", "1.0.0\n../x", "-rf"])
def test_hostile_version_refused_before_rm(
    version: str, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    """Signed by the right key: a key holder's mistake must not delete a directory either."""
    top = tiny.stage(tmp_path / "s", "1.0.0", version_text=version)
    tiny.sign_stage(top, keys[0])
    prefix = tmp_path / "a" / "b"
    victim = tmp_path / "a" / "etc"  # what <prefix>/releases/../../etc would be
    victim.mkdir(parents=True)
    (victim / "keep").write_text("x")
    proc = tiny.install(top, prefix, "--pubkey", keys[0].public)
    assert proc.returncode == 1
    assert "VERSION" in proc.stderr
    assert (victim / "keep").exists()
    assert not prefix.exists()


def test_symlink_in_the_tree_refused(
    release: Path, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the bundle\n")
    (release / "docs" / "escape.md").symlink_to(outside)
    resign(release, keys[0])  # listed and signed: still refused
    proc = tiny.install(release, tmp_path / "p", "--pubkey", keys[0].public)
    assert proc.returncode == 1
    assert "links or special files" in proc.stderr
    assert not (tmp_path / "p").exists()


def test_path_outside_the_bundle_in_sha256sums_refused(
    release: Path, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    outside = release.parent / "x"
    outside.write_bytes(b"outside\n")
    line = hashlib.sha256(b"outside\n").hexdigest() + "  ../x\n"
    (release / "SHA256SUMS").write_text((release / "SHA256SUMS").read_text() + line)
    tiny.openssl_sign(keys[0], release / "SHA256SUMS", release / "SHA256SUMS.sig.new")
    (release / "SHA256SUMS.sig.new").replace(release / "SHA256SUMS.sig")
    proc = tiny.install(release, tmp_path / "p", "--pubkey", keys[0].public)
    assert proc.returncode == 1
    assert "SHA256SUMS line refused: " in proc.stderr
    assert not (tmp_path / "p").exists()


@pytest.mark.slow  # a real venv and pip install: seconds, not milliseconds
def test_accepted_with_the_pinned_fingerprint(
    release: Path, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    """--fingerprint alone: the published key beside the unpacked directory, checked."""
    prefix = tmp_path / "p"
    proc = tiny.install(release, prefix, "--fingerprint", keys[0].fingerprint)
    assert proc.returncode == 0, proc.stderr
    assert f"verified (signed by key {keys[0].fingerprint})" in proc.stdout
    assert (prefix / "current" / "VERSION").read_text() == "1.0.0\n"
    assert (prefix / "current" / "verify-bundle.sh").exists()
    assert (prefix / "release-key.pem").read_bytes() == keys[0].public.read_bytes()
    assert not list(prefix.rglob("*.pub.pem"))


@pytest.mark.slow  # a real venv and pip install: seconds, not milliseconds
def test_insecure_unpinned_installs_with_a_warning(release: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    proc = tiny.install(release, prefix, "--insecure-unpinned")
    assert proc.returncode == 0, proc.stderr
    assert "WARNING: --insecure-unpinned: NO signature is checked" in proc.stderr
    assert "UNSIGNED" in proc.stdout
    assert (prefix / "current" / "VERSION").read_text() == "1.0.0\n"
    assert not (prefix / "release-key.pem").exists()  # nothing pinned for the next upgrade


@pytest.mark.slow  # a real venv and pip install: seconds, not milliseconds
def test_upgrade_is_verified_against_the_installed_key(
    tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    release, other = keys
    prefix = tmp_path / "p"
    first = tiny.install(
        unpacked(tmp_path / "1", "1.0.0", release), prefix, "--pubkey", release.public
    )
    assert first.returncode == 0, first.stderr

    # Signed by another key: refused with no option, and with that key offered as --pubkey.
    foreign = unpacked(tmp_path / "2", "1.1.0", other)
    plain = tiny.install(foreign, prefix)
    assert plain.returncode == 1
    assert "BAD SIGNATURE" in plain.stderr
    offered = tiny.install(foreign, prefix, "--pubkey", other.public)
    assert offered.returncode == 1
    assert f"trusts release key {release.fingerprint}" in offered.stderr
    forged = tmp_path / "forged.sig"
    tiny.openssl_sign(other, other.public, forged)  # "rotation" signed by the new key itself
    self_signed = tiny.install(foreign, prefix, "--pubkey", other.public, "--rotation-sig", forged)
    assert self_signed.returncode == 1
    assert (prefix / "current").resolve().name == "1.0.0"

    # Signed by the installed key: accepted with no option at all, by the installed verifier
    # (before unpacking) and by install.sh.
    verifier = prefix / "current" / "verify-bundle.sh"
    refused = tiny.run([verifier, tiny.build(tmp_path / "2b", "1.1.0", other)])
    assert refused.returncode == 1
    assert "BAD SIGNATURE" in refused.stderr
    tarball = tiny.build(tmp_path / "3", "1.2.0", release)
    checked = tiny.run([verifier, "--extract", tmp_path / "3" / "x", tarball])
    assert checked.returncode == 0, checked.stderr
    upgrade = tiny.install(Path(checked.stdout.strip()), prefix)
    assert upgrade.returncode == 0, upgrade.stderr
    assert (prefix / "current").resolve().name == "1.2.0"

    # Key rotation: the installed key signs the new public key; then the new key is kept.
    rotation = tmp_path / "rotation.sig"
    tiny.openssl_sign(release, other.public, rotation)
    rotated = tiny.install(foreign, prefix, "--pubkey", other.public, "--rotation-sig", rotation)
    assert rotated.returncode == 0, rotated.stderr
    assert (prefix / "current").resolve().name == "1.1.0"
    assert (prefix / "release-key.pem").read_bytes() == other.public.read_bytes()
    stale = tiny.install(unpacked(tmp_path / "4", "1.3.0", release), prefix)
    assert stale.returncode == 1
    assert "BAD SIGNATURE" in stale.stderr


@pytest.mark.slow  # a real venv and pip install: seconds, not milliseconds
def test_files_swapped_after_the_check_are_not_installed(
    release: Path, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    """Whoever owns the unpacked directory swaps the wheel and its lock once the check is done
    (at install.sh's first Python call): the install uses its private, verified copy."""
    evil = tmp_path / "evil"
    evil.mkdir()
    wheel = tiny.tiny_wheel(evil, "6.6.6")
    tiny.builder().write_lock(evil, evil / "requirements.lock")
    swap = tmp_path / "python"
    swap.write_text(
        "#!/bin/sh\n"
        f'if [ ! -e "{tmp_path}/swapped" ]; then touch "{tmp_path}/swapped"\n'
        f'  cp "{wheel}" "{release}/wheelhouse/{wheel.name}"\n'
        f'  cp "{evil}/requirements.lock" "{release}/requirements.lock"\nfi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    swap.chmod(0o755)
    prefix = tmp_path / "p"
    argv: list[str | Path] = [
        release / "install.sh",
        "--prefix",
        prefix,
        "--no-systemd",
        "--pubkey",
        keys[0].public,
    ]
    proc = tiny.run(argv, PYTHON=str(swap))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "swapped").exists()
    assert (release / "requirements.lock").read_bytes() == (evil / "requirements.lock").read_bytes()
    version = tiny.run([prefix / "current" / "venv" / "bin" / "revisor", "--version"])
    assert version.stdout == "revisor 1.0.0\n"


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the owner check applies when install.sh runs as root"
)
def test_a_pin_others_could_rewrite_is_refused(
    release: Path, tmp_path: Path, keys: tuple[tiny.Key, ...]
) -> None:
    prefix = tmp_path / "p"
    prefix.mkdir()
    shutil.copy(keys[0].public, prefix / "release-key.pem")
    (prefix / "release-key.pem").chmod(0o666)
    proc = tiny.install(release, prefix)
    assert proc.returncode == 1
    assert "owned by root and writable by root only" in proc.stderr
    assert not (prefix / "current").exists()
