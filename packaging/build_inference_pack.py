#!/usr/bin/env python3
"""Build the GPU inference pack: `dist/revisor-<version>-gpu-linux-x86_64.tar.gz`.

A separate, signed, offline tarball for GPU hosts (the main bundle stays CPU-only and small):

    revisor-<version>-gpu/
      PACK                        one line: what is inside (versions, CUDA architectures)
      VERSION                     <version>-gpu
      llama/                      llama-cpp-python built with -DGGML_CUDA=on for
                                  CMAKE_CUDA_ARCHITECTURES (default 80;86;89;90: A100, A10/3090,
                                  L4/L40/4090, H100/H200), and its requirements.lock (hash)
      vllm/wheels/                vLLM and every dependency (its CUDA torch, nvidia-* runtime
                                  wheels) as `pip download` got them, and vllm/requirements.lock
                                  (name==version --hash=sha256:...)
      install-inference-pack.sh   the installer (also in every release: run that copy)
      SHA256SUMS, SHA256SUMS.sig  as in the main bundle

It is signed, packed and published with the main bundle's own functions (build_bundle.py: the
same release key, the same detached signature beside the tarball), so `verify-bundle.sh` and the
installed release key check it exactly as they check a release.

    make inference-pack [CUDA_ARCHS="90"] [VLLM=vllm==0.33.0] [LLAMA_WHEEL=prebuilt.whl]

Needs nvcc (CUDA 12+) and a C++ compiler for llama-cpp-python: on 16 cores about 4 minutes for
one architecture; much longer on small machines (all four architectures: several times that).
`--llama-wheel FILE` takes a wheel built elsewhere; `--no-vllm` leaves vLLM out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_bundle as bb  # noqa: E402  (a script beside this one, not a package)

DEFAULT_ARCHS = "80;86;89;90"
DEFAULT_VLLM = "vllm==0.33.0"
INSTALLER = "install-inference-pack.sh"
_ARCHS_RE = re.compile(r"^[0-9]{2,3}[a-z]?(-real|-virtual)?(;[0-9]{2,3}[a-z]?(-real|-virtual)?)*$")


def llama_requirement() -> str:
    """The llama-cpp-python pin of the main bundle (pyproject's `inference` extra)."""
    data = tomllib.loads((bb.ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for req in data["project"]["optional-dependencies"]["inference"]:
        name, _, version = req.partition("==")
        if name.split("[")[0] == "llama-cpp-python":
            return f"llama-cpp-python=={version}"
    raise SystemExit("no llama-cpp-python pin in pyproject's inference extra")


def cuda_toolkit() -> str:
    """`nvcc 13.0`: the driver must support at least this CUDA version (docs/install.md)."""
    try:
        out = subprocess.run(["nvcc", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"nvcc (the CUDA toolkit) is needed to build the pack: {exc}") from None
    match = re.search(r"release ([0-9]+\.[0-9]+)", out.stdout)
    return f"nvcc {match.group(1)}" if match else "nvcc (version unknown)"


def build_llama(python: str, dest: Path, archs: str) -> None:
    """The CUDA wheel, compiled from the pinned sdist (pip's cache is not used: other flags).
    CMAKE_ARGS from the environment come first (e.g. `-DCUDAToolkit_ROOT=...` where cuBLAS is
    installed apart from nvcc)."""
    env = bb.pip_env()
    cuda = f"-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES={archs}"
    env["CMAKE_ARGS"] = f"{env.get('CMAKE_ARGS', '')} {cuda}".strip()
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    bb.run(python, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--no-binary",
           "llama-cpp-python", "--wheel-dir", dest, llama_requirement(), env=env)  # fmt: skip


def check_cuda_wheel(wheel_dir: Path) -> None:
    """Exactly one llama-cpp-python wheel, and it carries the CUDA backend (else: a CPU build)."""
    wheels = list(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"want one llama-cpp-python wheel in {wheel_dir}, found {len(wheels)}")
    with zipfile.ZipFile(wheels[0]) as z:
        if not any(re.fullmatch(r"llama_cpp/lib/libggml-cuda\.so[.0-9]*", n) for n in z.namelist()):
            raise SystemExit(
                f"{wheels[0].name} has no llama_cpp/lib/libggml-cuda.so: not a CUDA build"
            )


def download_vllm(python: str, dest: Path, requirement: str) -> None:
    """vLLM and its dependencies as wheels only (PyPI's Linux torch is the CUDA build)."""
    bb.run(python, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", dest,
           requirement, env=bb.pip_env())  # fmt: skip


def stage_pack(
    stage: Path, version: str, *, llama_wheels: Path, vllm_wheels: Path | None, describe: str
) -> None:
    """Lay out the pack's tree from built wheels (used by main() and by the tests' stand-in)."""
    (stage / "llama").mkdir(parents=True)
    for wheel in llama_wheels.glob("*.whl"):
        shutil.copy2(wheel, stage / "llama" / wheel.name)
    bb.write_lock(stage / "llama", stage / "llama" / "requirements.lock")
    if vllm_wheels is not None:
        (stage / "vllm").mkdir()
        shutil.copytree(vllm_wheels, stage / "vllm" / "wheels")
        bb.write_lock(stage / "vllm" / "wheels", stage / "vllm" / "requirements.lock")
    (stage / "VERSION").write_text(f"{version}-gpu\n")
    (stage / "PACK").write_text(f"Revisor {version} GPU inference pack: {describe}\n")
    shutil.copy2(HERE / INSTALLER, stage / INSTALLER)
    os.chmod(stage / INSTALLER, 0o755)  # noqa: S103 (an installer must be executable)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=bb.ROOT / "dist")
    parser.add_argument("--build-dir", type=Path, default=bb.ROOT / "build")
    parser.add_argument("--python", default=sys.executable, help="Python 3.11 of the appliance")
    parser.add_argument("--signing-key", type=Path, help="the release key (see build_bundle.py)")
    parser.add_argument("--cuda-archs", default=os.environ.get("CUDA_ARCHS") or DEFAULT_ARCHS)
    parser.add_argument("--vllm", default=DEFAULT_VLLM, help="vLLM requirement (pinned)")
    parser.add_argument("--no-vllm", action="store_true", help="llama.cpp only")
    parser.add_argument("--llama-wheel", type=Path, help="a CUDA llama-cpp-python wheel (prebuilt)")
    args = parser.parse_args()
    os.umask(0o022)
    if not _ARCHS_RE.match(args.cuda_archs):
        raise SystemExit(f"--cuda-archs {args.cuda_archs!r}: want e.g. 80;86;89;90")
    version = bb.version()
    key = bb.load_signing_key(bb.signing_key_path(args.signing_key))
    work = args.build_dir / "inference-pack"
    stage = work / f"revisor-{version}-gpu"
    shutil.rmtree(work, ignore_errors=True)
    (work / "llama").mkdir(parents=True)
    t0 = time.monotonic()
    toolkit = "prebuilt wheel"
    if args.llama_wheel:
        shutil.copy2(args.llama_wheel, work / "llama" / args.llama_wheel.name)
    else:
        toolkit = cuda_toolkit()
        bb.log(f"building llama-cpp-python with CUDA for {args.cuda_archs} (slow)")
        build_llama(args.python, work / "llama", args.cuda_archs)
    check_cuda_wheel(work / "llama")
    t_llama = time.monotonic()
    vllm_dir = None
    if not args.no_vllm:
        bb.log(f"downloading {args.vllm} and its dependencies (wheels only)")
        vllm_dir = work / "vllm"
        vllm_dir.mkdir()
        download_vllm(args.python, vllm_dir, args.vllm)
    t_vllm = time.monotonic()
    describe = f"{llama_requirement()} (CUDA architectures {args.cuda_archs}, {toolkit})" + (
        "" if args.no_vllm else f", {args.vllm}"
    )
    stage_pack(stage, version, llama_wheels=work / "llama", vllm_wheels=vllm_dir, describe=describe)
    bb.sign(stage, key)
    tarball = bb.pack(stage, args.out)
    fingerprint = bb.publish(tarball, key)
    shutil.copy2(HERE / INSTALLER, args.out / INSTALLER)
    size = tarball.stat().st_size
    bb.log(
        f"done: {tarball} ({size / 1e6:.0f} MB) in {time.monotonic() - t0:.0f} s (llama.cpp "
        f"{t_llama - t0:.0f} s, vLLM download {t_vllm - t_llama:.0f} s); signed by {fingerprint}"
    )
    print(tarball)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
