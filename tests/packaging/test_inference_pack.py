"""The GPU inference pack on a small stand-in: structure, signature, offline installer.

The pack is built by the real `packaging/build_inference_pack.py` functions (signed and packed
by build_bundle.py's, as a release is) from stand-in wheels in place of the CUDA build of
llama-cpp-python (a wheel whose `llama_cpp/lib/` holds `libggml-cuda.so`) and of vLLM's
wheelhouse (`vllm` requiring `torch`). The installer is the copy a tiny release installed
under tmp_path keeps; it runs in a network namespace with no network when `unshare` allows it,
and writes its systemd drop-in to a tmp directory (`--systemd-dir`). The real CUDA build is
`make inference-pack`, never run by the tests.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.packaging import tiny

pytestmark = pytest.mark.slow  # real venvs and pip installs: seconds each
APPLIANCE = tiny.ROOT / "appliance"
DROPIN = Path("revisor-sidecar.service.d") / "20-gpu.conf"


def pack_builder() -> Any:
    path = tiny.PACKAGING / "build_inference_pack.py"
    spec = importlib.util.spec_from_file_location("build_inference_pack", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stand_in_pack(where: Path, key: tiny.Key, version: str = "1.0.0") -> Path:
    """`where/dist/revisor-<version>-gpu-linux-x86_64.tar.gz` with its .sig beside it."""
    pb = pack_builder()
    llama, vllm = where / "llama", where / "vllm"
    llama.mkdir(parents=True)
    vllm.mkdir()
    tiny.make_wheel(llama, "llama_cpp_python", "0.3.36", {
        "llama_cpp/__init__.py": b"BUILD = 'cuda'\n",
        "llama_cpp/lib/libggml-cuda.so": b"\x7fELF stand-in",
    })  # fmt: skip
    tiny.make_wheel(vllm, "torch", "2.13.0", {"torch/__init__.py": b"cuda = True\n"})
    tiny.make_wheel(vllm, "vllm", "0.33.0", {"vllm/__init__.py": b"import torch\n"},
                    requires=("torch==2.13.0",))  # fmt: skip
    stage = where / "stage" / f"revisor-{version}-gpu"
    pb.stage_pack(stage, version, llama_wheels=llama, vllm_wheels=vllm, describe="stand-in")
    return tiny.publish(stage, key, where / "dist")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[tiny.Key, tiny.Key]:
    where = tmp_path_factory.mktemp("keys")
    return tiny.make_key(where, "release"), tiny.make_key(where, "other")


@pytest.fixture
def installed(tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]) -> Path:
    """A tiny release 1.0.0 installed (--no-systemd) under tmp_path/p, its key kept there."""
    tarball = tiny.build(tmp_path / "r", "1.0.0", keys[0])
    proc = tiny.run(
        [tiny.VERIFIER, "--pubkey", keys[0].public, "--extract", tmp_path / "r", tarball]
    )
    assert proc.returncode == 0, proc.stderr
    prefix = tmp_path / "p"
    done = tiny.install(Path(proc.stdout.strip()), prefix, "--pubkey", keys[0].public)
    assert done.returncode == 0, done.stderr
    assert (prefix / "current" / "install-inference-pack.sh").exists()
    return prefix


def _offline(argv: list[str | Path]) -> list[str | Path]:
    """argv in a new network namespace (no interface up) when this host allows one."""
    if shutil.which("unshare"):
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["unshare", "-n", "--", *argv]
    return argv


def install_pack(
    prefix: Path, tarball: Path, *extra: str | Path
) -> subprocess.CompletedProcess[str]:
    installer = prefix / "current" / "install-inference-pack.sh"
    return tiny.run(_offline([installer, "--prefix", prefix, *extra, tarball]))


def test_pack_structure(tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]) -> None:
    tarball = stand_in_pack(tmp_path, keys[0])
    assert tarball.name == "revisor-1.0.0-gpu-linux-x86_64.tar.gz"
    assert (tarball.parent / (tarball.name + ".sig")).exists()
    with tarfile.open(tarball) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
        top = "revisor-1.0.0-gpu"
        for required in ("PACK", "VERSION", "SHA256SUMS", "SHA256SUMS.sig",
                         "install-inference-pack.sh", "llama/requirements.lock",
                         "vllm/requirements.lock",
                         "vllm/wheels/vllm-0.33.0-py3-none-any.whl"):  # fmt: skip
            assert f"{top}/{required}" in names, required
        lock = tar.extractfile(f"{top}/vllm/requirements.lock")
        assert lock is not None
        pins = [x for x in lock.read().decode().splitlines() if not x.startswith("#")]
    assert [p.split(" ")[0] for p in pins] == ["torch==2.13.0", "vllm==0.33.0"]
    assert all(" --hash=sha256:" in p for p in pins)
    proc = tiny.run([tiny.VERIFIER, "--pubkey", keys[0].public, tarball])
    assert proc.returncode == 0, proc.stderr
    assert "is revisor-1.0.0-gpu" in proc.stderr


def test_cuda_architectures_are_checked(tmp_path: Path) -> None:
    proc = tiny.run([sys.executable, tiny.PACKAGING / "build_inference_pack.py", "--cuda-archs",
                     "90; rm -rf /", "--signing-key", tmp_path / "k.pem"])  # fmt: skip
    assert proc.returncode != 0
    assert "--cuda-archs" in proc.stderr
    assert not (tmp_path / "k.pem").exists()


def test_builder_end_to_end_with_a_prebuilt_wheel(tmp_path: Path) -> None:
    """`make inference-pack LLAMA_WHEEL=... NO_VLLM=1`: no compiler, no network."""
    key = tmp_path / "keys" / "release.pem"
    out = tmp_path / "dist"

    def build(wheel: Path) -> subprocess.CompletedProcess[str]:
        return tiny.run([sys.executable, tiny.PACKAGING / "build_inference_pack.py", "--out", out,
                         "--build-dir", tmp_path / "build", "--signing-key", key,
                         "--llama-wheel", wheel, "--no-vllm", "--cuda-archs", "90"])  # fmt: skip

    cpu = build(_cpu_llama(tmp_path / "cpu", "0.3.36"))
    assert cpu.returncode != 0
    assert "not a CUDA build" in cpu.stderr
    assert not out.exists()
    proc = build(tiny.make_wheel(tmp_path, "llama_cpp_python", "0.3.36", {
        "llama_cpp/__init__.py": b"", "llama_cpp/lib/libggml-cuda.so.0": b"\x7fELF",
    }))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    tarball = Path(proc.stdout.strip())
    assert tarball.parent == out
    assert tarball.name.endswith("-gpu-linux-x86_64.tar.gz")
    for beside in ("revisor-release-key.pub.pem", "verify-bundle.sh", "install-inference-pack.sh"):
        assert (out / beside).exists(), beside
    verify = tiny.run([tiny.VERIFIER, "--pubkey", out / "revisor-release-key.pub.pem", tarball])
    assert verify.returncode == 0, verify.stderr
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        pack = tar.extractfile(next(n for n in names if n.endswith("/PACK")))
        assert pack is not None
        assert "CUDA architectures 90, prebuilt wheel" in pack.read().decode()
    assert not any("/vllm/" in n for n in names)


def test_installer_offline_with_the_installed_key(
    installed: Path, tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    tarball = stand_in_pack(tmp_path / "pack", keys[0])
    systemd = tmp_path / "systemd"
    proc = install_pack(installed, tarball, "--systemd-dir", systemd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pack verified: Revisor 1.0.0 GPU inference pack" in proc.stdout
    venv = installed / "current" / "venv"
    assert list(venv.glob("lib/python3*/site-packages/llama_cpp/lib/libggml-cuda.so"))
    vllm = installed / "vllm-venv" / "bin" / "python"
    check = tiny.run([vllm, "-c", "import vllm, torch; print(torch.cuda)"])
    assert check.stdout.strip() == "True", check.stderr
    assert (systemd / DROPIN).read_bytes() == (APPLIANCE / DROPIN).read_bytes()
    assert not list(installed.glob("vllm-venv.*"))  # no .partial or .old left behind


def test_tampered_or_foreign_pack_is_refused(
    installed: Path, tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    tarball = stand_in_pack(tmp_path / "pack", keys[0])
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0x01
    tarball.write_bytes(bytes(data))
    venv_before = sorted(p.name for p in (installed / "current" / "venv").rglob("*"))
    proc = install_pack(installed, tarball, "--systemd-dir", tmp_path / "systemd")
    assert proc.returncode == 1
    assert "BAD SIGNATURE" in proc.stderr
    assert "nothing was installed" in proc.stderr
    foreign = stand_in_pack(tmp_path / "foreign", keys[1])
    refused = install_pack(installed, foreign, "--systemd-dir", tmp_path / "systemd")
    assert refused.returncode == 1
    assert "BAD SIGNATURE" in refused.stderr
    assert sorted(p.name for p in (installed / "current" / "venv").rglob("*")) == venv_before
    assert not (installed / "vllm-venv").exists()
    assert not (tmp_path / "systemd").exists()


def _cpu_llama(where: Path, version: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    return tiny.make_wheel(where, "llama_cpp_python", version, {
        "llama_cpp/__init__.py": b"BUILD = 'cpu'\n",
        "llama_cpp/lib/libggml-cpu.so": b"\x7fELF stand-in",
    })  # fmt: skip


def _upgrade(prefix: Path, where: Path, version: str, key: tiny.Key, llama: Path) -> str:
    tarball = tiny.build(where, version, key, wheels=(llama,))
    proc = tiny.run([prefix / "current" / "verify-bundle.sh", "--extract", where, tarball])
    assert proc.returncode == 0, proc.stderr
    done = tiny.run(_offline([Path(proc.stdout.strip()) / "install.sh", "--prefix", prefix,
                              "--no-systemd"]))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (prefix / "current").resolve().name == version
    return done.stdout + done.stderr


def test_an_upgrade_keeps_the_gpu_build_of_the_same_version(
    installed: Path, tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    """The new release's wheelhouse has the CPU build: the kept CUDA wheel replaces it when the
    versions match; another version stays on the CPU build, with a warning."""
    pack = install_pack(installed, stand_in_pack(tmp_path / "pack", keys[0]), "--only", "llama",
                        "--no-systemd")  # fmt: skip
    assert pack.returncode == 0, pack.stderr
    assert (installed / "inference-pack" / "PACK").exists()

    def libs() -> list[str]:
        venv = installed / "current" / "venv"
        return sorted(p.name for p in venv.glob("lib/python3*/site-packages/llama_cpp/lib/*"))

    out = _upgrade(
        installed, tmp_path / "u1", "1.1.0", keys[0], _cpu_llama(tmp_path / "w1", "0.3.36")
    )
    assert "the GPU build kept from the inference pack (llama-cpp-python==0.3.36)" in out
    assert libs() == ["libggml-cuda.so"]
    out = _upgrade(
        installed, tmp_path / "u2", "1.2.0", keys[0], _cpu_llama(tmp_path / "w2", "0.3.40")
    )
    assert "holds llama-cpp-python==0.3.36, this release pins llama-cpp-python==0.3.40" in out
    assert libs() == ["libggml-cpu.so"]


def test_installer_refuses_a_missing_appliance_venv(
    tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    tarball = stand_in_pack(tmp_path / "pack", keys[0])
    installer = tiny.PACKAGING / "install-inference-pack.sh"
    proc = tiny.run([installer, "--prefix", tmp_path / "none", "--no-systemd", "--pubkey",
                     keys[0].public, tarball])  # fmt: skip
    assert proc.returncode == 1
    assert f"no appliance venv at {tmp_path}/none/current/venv" in proc.stderr


def test_a_pack_for_another_llama_version_is_refused(
    tmp_path: Path, keys: tuple[tiny.Key, tiny.Key]
) -> None:
    """Release 1.0.0 pins llama-cpp-python 0.3.40; a pack holding 0.3.36 must not replace it."""
    tarball = tiny.build(
        tmp_path / "r", "1.0.0", keys[0], wheels=(_cpu_llama(tmp_path / "w", "0.3.40"),)
    )
    verified = tiny.run(
        [tiny.VERIFIER, "--pubkey", keys[0].public, "--extract", tmp_path / "r", tarball]
    )
    assert verified.returncode == 0, verified.stderr
    prefix = tmp_path / "p"
    done = tiny.install(Path(verified.stdout.strip()), prefix, "--pubkey", keys[0].public)
    assert done.returncode == 0, done.stderr
    proc = install_pack(prefix, stand_in_pack(tmp_path / "pack", keys[0]), "--no-systemd")
    assert proc.returncode == 1
    assert "holds llama-cpp-python 0.3.36, the installed release has 0.3.40" in proc.stderr
    venv = prefix / "current" / "venv"
    assert [p.name for p in venv.glob("lib/python3*/site-packages/llama_cpp/lib/*")] == [
        "libggml-cpu.so"
    ]
    assert not (prefix / "inference-pack").exists()
