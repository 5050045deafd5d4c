"""Upgrade from one release to the next and `--rollback` back, offline, with the real install.sh.

Tiny releases (tests/packaging/tiny.py) whose `revisor init` appends `init <version>` to
<data dir>/revisor.db (the stand-in for migrations) and whose `revisor backup` saves it, so
the test sees the pre-upgrade backup and which release touched the data. Every install.sh run
is inside a network namespace with no interface up when this host allows one (else pip's
`--no-index` is what keeps it offline), `--no-systemd` under tmp_path.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.packaging import tiny

pytestmark = pytest.mark.slow  # real venvs and pip installs: seconds each


def _offline(argv: list[str | Path]) -> list[str | Path]:
    if shutil.which("unshare"):
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["unshare", "-n", "--", *argv]
    return argv


def release(where: Path, version: str, key: tiny.Key) -> Path:
    tarball = tiny.build(where, version, key)
    proc = tiny.run([tiny.VERIFIER, "--pubkey", key.public, "--extract", where, tarball])
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


def install(top: Path, prefix: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    return tiny.run(_offline([top / "install.sh", "--prefix", prefix, "--no-systemd", *extra]))


def rollback(prefix: Path) -> subprocess.CompletedProcess[str]:
    script = prefix / "current" / "install.sh"
    return tiny.run(_offline([script, "--prefix", prefix, "--no-systemd", "--rollback"]))


def version_of(prefix: Path) -> str:
    proc = tiny.run([prefix / "current" / "venv" / "bin" / "revisor", "--version"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_upgrade_then_rollback_and_forward_again(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path / "keys", "release")
    prefix = tmp_path / "p"
    data = prefix / "data"
    first = install(release(tmp_path / "1", "1.0.0", key), prefix, "--pubkey", key.public)
    assert first.returncode == 0, first.stderr
    assert version_of(prefix) == "revisor 1.0.0"
    assert not (prefix / "previous").exists()
    assert (data / "revisor.db").read_text() == "init 1.0.0\n"

    # Upgrade: verified with the installed key (no --pubkey), backup before migrating.
    up = install(release(tmp_path / "2", "1.1.0", key), prefix)
    assert up.returncode == 0, up.stderr
    assert version_of(prefix) == "revisor 1.1.0"
    assert (prefix / "current").resolve() == prefix / "releases" / "1.1.0"
    assert (prefix / "previous").resolve() == prefix / "releases" / "1.0.0"
    assert (data / "revisor.db").read_text() == "init 1.0.0\ninit 1.1.0\n"
    [backup] = (data / "backups").glob("pre-1.1.0-*.tar.gz")
    with tarfile.open(backup) as tar:
        saved = tar.extractfile("revisor.db")
        assert saved is not None
        assert saved.read() == b"init 1.0.0\n"  # taken by the old release, before its init

    # Rollback: back to 1.0.0, the data dir untouched, the backup named for a restore.
    back = rollback(prefix)
    assert back.returncode == 0, back.stderr
    assert "rolling back from 1.1.0 to 1.0.0" in back.stdout
    assert f"restore the pre-upgrade backup in {data}/backups" in back.stdout
    assert version_of(prefix) == "revisor 1.0.0"
    assert (prefix / "previous").resolve() == prefix / "releases" / "1.1.0"
    assert (data / "revisor.db").read_text() == "init 1.0.0\ninit 1.1.0\n"
    assert (prefix / "releases" / "1.1.0" / "venv" / "bin" / "revisor").exists()

    # --rollback again goes forward to 1.1.0: the two releases swap.
    forward = rollback(prefix)
    assert forward.returncode == 0, forward.stderr
    assert version_of(prefix) == "revisor 1.1.0"
    assert (prefix / "previous").resolve() == prefix / "releases" / "1.0.0"


def test_rollback_without_a_previous_release_changes_nothing(tmp_path: Path) -> None:
    key = tiny.make_key(tmp_path / "keys", "release")
    prefix = tmp_path / "p"
    done = install(release(tmp_path / "1", "1.0.0", key), prefix, "--pubkey", key.public)
    assert done.returncode == 0, done.stderr
    proc = rollback(prefix)
    assert proc.returncode == 1
    assert "no previous release recorded" in proc.stderr
    assert version_of(prefix) == "revisor 1.0.0"


def test_reinstalling_the_current_release_keeps_the_previous_one(tmp_path: Path) -> None:
    """A repeated install of the running release must not make it its own rollback target."""
    key = tiny.make_key(tmp_path / "keys", "release")
    prefix = tmp_path / "p"
    assert (
        install(release(tmp_path / "1", "1.0.0", key), prefix, "--pubkey", key.public).returncode
        == 0
    )
    second = release(tmp_path / "2", "1.1.0", key)
    assert install(second, prefix).returncode == 0
    again = install(second, prefix)
    assert again.returncode == 0, again.stderr
    assert "already the current release" in again.stdout
    assert (prefix / "previous").resolve() == prefix / "releases" / "1.0.0"
    assert rollback(prefix).returncode == 0
    assert version_of(prefix) == "revisor 1.0.0"
