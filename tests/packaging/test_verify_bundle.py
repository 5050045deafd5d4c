"""The tarball is verified BEFORE it is unpacked, against a key the admin already has.

`make bundle` publishes beside the tarball its detached Ed25519 signature, the release public
key and its fingerprint, and the standalone `verify-bundle.sh`. Tiny bundles (tests/packaging/
tiny.py) are signed by the real build_bundle.py functions and checked by real openssl and tar.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.packaging import tiny

NO_INSTALLED_KEY = {"REVISOR_INSTALLED_KEY": "/nonexistent/release-key.pem"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[tiny.Key, tiny.Key]:
    where = tmp_path_factory.mktemp("keys")
    return tiny.make_key(where, "release"), tiny.make_key(where, "other")


@pytest.fixture(scope="module")
def release(keys: tuple[tiny.Key, tiny.Key], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build(tmp_path_factory.mktemp("release"), "1.0.0", keys[0])


def verify(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return tiny.run([tiny.VERIFIER, *argv], **NO_INSTALLED_KEY)


def test_published_beside_the_tarball(release: Path, keys: tuple[tiny.Key, tiny.Key]) -> None:
    dist = release.parent
    assert (dist / (release.name + ".sig")).stat().st_size == 64  # raw Ed25519
    assert (dist / "revisor-release-key.pub.pem").read_bytes() == keys[0].public.read_bytes()
    assert (dist / "revisor-release-key.fingerprint").read_text() == keys[0].fingerprint + "\n"
    assert (dist / "verify-bundle.sh").read_bytes() == tiny.VERIFIER.read_bytes()
    with tarfile.open(release) as tar:
        names = tar.getnames()
    assert not [n for n in names if n.endswith(".pem")]  # no key inside the bundle


def _documented(release: Path, pin: str) -> subprocess.CompletedProcess[str]:
    """docs/install.md's verify commands, as written, in the directory of the published files."""
    doc = (tiny.ROOT / "docs" / "install.md").read_text()
    block = doc.split("<!-- verify-commands -->")[1].split("```sh\n")[1].split("```")[0]
    script = block.replace("revisor-0.1.0-linux-x86_64", release.name.removesuffix(".tar.gz"))
    script = re.sub(r"^PIN=\S+", f"PIN={pin}", script, flags=re.M)
    return subprocess.run(["bash", "-ec", script], cwd=release.parent, capture_output=True,
                          text=True, check=False)  # fmt: skip


def test_the_documented_openssl_check(release: Path, keys: tuple[tiny.Key, tiny.Key]) -> None:
    ok = _documented(release, keys[0].fingerprint)
    assert ok.returncode == 0, ok.stderr
    assert "Signature Verified Successfully" in ok.stdout
    wrong_pin = _documented(release, keys[1].fingerprint)
    assert wrong_pin.returncode != 0
    assert "Signature Verified" not in wrong_pin.stdout


def test_pinned_fingerprint_accepted_and_extracted(release: Path, tmp_path: Path) -> None:
    fp = (release.parent / "revisor-release-key.fingerprint").read_text().strip()
    proc = verify("--fingerprint", fp.upper(), "--extract", tmp_path / "x", release)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == tmp_path / "x" / "revisor-1.0.0"
    assert (tmp_path / "x" / "revisor-1.0.0" / "install.sh").stat().st_mode & 0o111


def test_refused_without_a_pin(release: Path, tmp_path: Path) -> None:
    proc = verify("--extract", tmp_path / "x", release)
    assert proc.returncode == 1
    assert "no pinned key" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_refused_with_another_key(release: Path, keys: tuple[tiny.Key, tiny.Key]) -> None:
    proc = verify("--pubkey", keys[1].public, release)
    assert proc.returncode == 1
    assert "BAD SIGNATURE" in proc.stderr
    wrong_pin = verify("--fingerprint", keys[1].fingerprint, release)
    assert wrong_pin.returncode == 1
    assert "not the pinned" in wrong_pin.stderr


def test_refused_when_one_byte_changed(release: Path, tmp_path: Path) -> None:
    data = bytearray(release.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy = tmp_path / release.name
    copy.write_bytes(bytes(data))
    (tmp_path / (release.name + ".sig")).write_bytes(
        (release.parent / (release.name + ".sig")).read_bytes()
    )
    proc = verify("--pubkey", release.parent / "revisor-release-key.pub.pem", copy)
    assert proc.returncode == 1
    assert "BAD SIGNATURE" in proc.stderr


def _member(name: str, kind: bytes = tarfile.DIRTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.mode = 0o755
    return info


HOSTILE = {
    "dotdot": [_member("revisor-1.0.0"), _member("revisor-1.0.0/../x")],
    "absolute": [_member("revisor-1.0.0"), _member("/tmp/revisor-evil")],
    "outside the top": [_member("revisor-1.0.0"), _member("elsewhere")],
    "symlink": [_member("revisor-1.0.0"), _member("revisor-1.0.0/etc", tarfile.SYMTYPE, "/etc")],
    "hardlink": [
        _member("revisor-1.0.0"),
        _member("revisor-1.0.0/passwd", tarfile.LNKTYPE, "/etc/passwd"),
    ],
    "device": [_member("revisor-1.0.0"), _member("revisor-1.0.0/mem", tarfile.CHRTYPE)],
    "version with ..": [_member("revisor-../../etc")],
    "version with a command": [_member("revisor-1.0;rm -rf")],
    "duplicate": [_member("revisor-1.0.0"), _member("revisor-1.0.0/a"), _member("revisor-1.0.0/a")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_refused_even_when_signed(
    case: str, keys: tuple[tiny.Key, tiny.Key], tmp_path: Path
) -> None:
    tarball = tiny.raw_tarball(tmp_path / "hostile.tar.gz", HOSTILE[case], keys[0])
    proc = verify("--pubkey", keys[0].public, "--extract", tmp_path / "x", tarball)
    assert proc.returncode == 1, (case, proc.stderr)
    assert "REFUSED" in proc.stderr
    assert "BAD SIGNATURE" not in proc.stderr  # refused for its names, not its signature
    assert not (tmp_path / "x").exists()


def test_upgrade_default_is_the_installed_key(
    release: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    ok = tiny.run([tiny.VERIFIER, release], REVISOR_INSTALLED_KEY=str(keys[0].public))
    assert ok.returncode == 0, ok.stderr
    other = tiny.run([tiny.VERIFIER, release], REVISOR_INSTALLED_KEY=str(keys[1].public))
    assert other.returncode == 1
    assert "BAD SIGNATURE" in other.stderr


def test_the_signature_covers_the_sha256_line_not_the_bytes(release: Path) -> None:
    """OpenSSL 3.0 cannot check an Ed25519 signature over a file of more than 2 GB (the GPU
    pack is 4.5 GB): the signature is over `sha256sum`'s line, published beside it."""
    dist = release.parent
    line = (dist / (release.name + ".sha256")).read_text()
    digest = hashlib.sha256(release.read_bytes()).hexdigest()
    assert line == f"{digest}  {release.name}\n"
    signed, sig = dist / (release.name + ".sha256"), dist / (release.name + ".sig")
    key = dist / "revisor-release-key.pub.pem"
    ok = tiny.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin", "-in",
                   signed, "-sigfile", sig])  # fmt: skip
    assert "Signature Verified Successfully" in ok.stdout
