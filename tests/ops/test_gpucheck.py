"""`revisor doctor` on GPU hosts: the GPU, driver and CUDA version, and whether the model fits.

`nvidia-smi` is the strict fake in tests/fakes/nvidia_smi.py, put first on PATH."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from revisor import config
from revisor.cli import main
from revisor.config import ModelSettings
from revisor.ops import gpucheck
from revisor.ops.checks import Check
from tests.fakes import nvidia_smi
from tests.fakes.nvidia_smi import FakeGpu


def with_model(settings: config.Settings, **model: object) -> config.Settings:
    return dataclasses.replace(settings, model=ModelSettings(**model))  # type: ignore[arg-type]


def by_name(results: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in results}


@pytest.fixture
def no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))


def test_no_gpu_and_a_cpu_build_is_fine(settings: config.Settings, no_gpu: None) -> None:
    [check] = gpucheck.check_gpu(settings, backend=None)
    assert check.ok
    assert check.detail.startswith("no GPU (nvidia-smi not found)")


def test_gpu_layers_without_a_gpu_fails(settings: config.Settings, no_gpu: None) -> None:
    [check] = gpucheck.check_gpu(with_model(settings, gpu_layers=-1), backend="cuda")
    assert not check.ok
    assert "gpu_layers = -1 needs one" in check.detail
    [vllm] = gpucheck.check_gpu(with_model(settings, engine="vllm"), backend=None)
    assert not vllm.ok


def test_gpu_reported_and_the_bundled_model_fits(settings: config.Settings, tmp_path: Path) -> None:
    smi = nvidia_smi.install(tmp_path / "bin")
    results = by_name(gpucheck.check_gpu(settings, smi=str(smi), backend="cuda"))
    gpu = results["gpu"]
    assert gpu.ok
    assert "driver 550.54.15, CUDA 12.4" in gpu.detail
    assert "GPU 0 NVIDIA H200: 139.9 GiB free of 140.4 GiB" in gpu.detail
    assert "llama.cpp (cuda) offloads all layers" in gpu.detail
    fit = results["gpu:fit"]
    assert fit.ok, fit.detail
    assert "model smollm2-135m-instruct-q4_1: needs about 1.0 GiB" in fit.detail
    assert "KV cache 0.2 GiB at 8192 tokens" in fit.detail


def test_a_model_too_big_for_the_free_memory_fails(
    settings: config.Settings, tmp_path: Path
) -> None:
    smi = nvidia_smi.install(tmp_path / "bin", (FakeGpu("NVIDIA L4", 23034, 900),))
    fit = by_name(gpucheck.check_gpu(settings, smi=str(smi), backend="cuda"))["gpu:fit"]
    assert not fit.ok
    assert "0.9 GiB free on GPU 0" in fit.detail
    assert "[model] gpu_layers" in fit.fix
    # Ten of thirty layers: a third of weights and cache, plus the margin (0.84 GiB).
    fewer = gpucheck.check_gpu(with_model(settings, gpu_layers=10), smi=str(smi), backend="cuda")
    assert by_name(fewer)["gpu:fit"].ok


def test_memory_held_by_the_running_sidecar_counts_as_free(
    settings: config.Settings, tmp_path: Path
) -> None:
    """nvidia-smi lists the sidecar's pid; its /proc cmdline names llama_cpp.server."""
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "cmdline").write_bytes(b"/venv/bin/python\0-m\0llama_cpp.server\0")
    (proc / "4343").mkdir()
    (proc / "4343" / "cmdline").write_bytes(b"/usr/bin/other\0")
    report = gpucheck.gpu.GpuReport("550", "12.4", (), ((4242, 1000), (4343, 7), (99, 5)))
    assert gpucheck._sidecar_bytes(report, proc) == 1000


def test_a_cpu_build_on_a_gpu_host(settings: config.Settings, tmp_path: Path) -> None:
    smi = nvidia_smi.install(tmp_path / "bin")
    [auto] = gpucheck.check_gpu(settings, smi=str(smi), backend=None)
    assert auto.ok
    assert "CPU build: the sidecar does not use the GPU" in auto.detail
    [asked] = gpucheck.check_gpu(with_model(settings, gpu_layers=20), smi=str(smi), backend=None)
    assert not asked.ok
    assert "cannot offload anything" in asked.detail
    assert "GPU inference pack" in asked.fix


def test_driver_not_loaded_fails(settings: config.Settings, tmp_path: Path) -> None:
    smi = nvidia_smi.install(tmp_path / "bin", driver_missing=True)
    [check] = gpucheck.check_gpu(settings, smi=str(smi), backend="cuda")
    assert not check.ok
    assert "couldn't communicate with the NVIDIA driver" in check.detail


def test_doctor_runs_the_gpu_group(
    settings: config.Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    bin_dir = tmp_path / "bin"
    nvidia_smi.install(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    args = ["doctor", "--data-dir", str(settings.data_dir), "--json", "--skip", "model_endpoint"]
    assert main(args) == 0
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert "driver 550.54.15, CUDA 12.4" in checks["gpu"]["detail"]
    assert main([*args, "--skip", "gpu"]) == 0
    skipped = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert skipped["gpu"]["skipped"]
