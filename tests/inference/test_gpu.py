"""GPU offload for llama.cpp: the one gpu_layers rule, build detection, nvidia-smi, fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revisor import config
from revisor.config import ModelSettings
from revisor.errors import ConfigError
from revisor.inference import gpu, sidecar
from revisor.inference.gguf import ModelShape
from revisor.inference.gpu import GpuQueryError, Offload
from revisor.inference.sidecar import Sidecar
from tests.fakes import nvidia_smi
from tests.fakes.nvidia_smi import FakeGpu

GIB = 1024**3


def test_gpu_layers_default_follows_the_build() -> None:
    assert gpu.decide_gpu_layers(None, "cuda") == -1
    assert gpu.decide_gpu_layers(None, None) == 0
    assert gpu.decide_gpu_layers(20, None) == 20  # as set, even on a CPU build (doctor says so)
    assert gpu.decide_gpu_layers(0, "cuda") == 0
    for bad in (-2, True, "all"):
        with pytest.raises(ConfigError, match="gpu_layers"):
            gpu.decide_gpu_layers(bad, "cuda")  # type: ignore[arg-type]


def test_offload_checks_main_gpu_and_tensor_split() -> None:
    off = gpu.offload(ModelSettings(main_gpu=1, tensor_split=(3, 1), flash_attn=True), "cuda")
    assert off == Offload(gpu_layers=-1, main_gpu=1, tensor_split=(3.0, 1.0), flash_attn=True)
    with pytest.raises(ConfigError, match="main_gpu"):
        gpu.offload(ModelSettings(main_gpu=-1), "cuda")
    with pytest.raises(ConfigError, match="tensor_split"):
        gpu.offload(ModelSettings(tensor_split=(1.0, -1.0)), "cuda")
    with pytest.raises(ConfigError, match="tensor_split"):
        gpu.offload(ModelSettings(tensor_split=(0.0, 0.0)), "cuda")


def test_backend_is_read_from_the_package_files_without_importing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, lib in (("cpu_llama", "libggml-cpu.so"), ("cuda_llama", "libggml-cuda.so.0")):
        pkg = tmp_path / name
        (pkg / "lib").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
        (pkg / "lib" / lib).write_bytes(b"\x7fELF")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert gpu.llama_gpu_backend("cpu_llama") is None
    assert gpu.llama_gpu_backend("cuda_llama") == "cuda"
    assert gpu.llama_gpu_backend("no_such_package_here") is None


def _sidecar_config(tmp_path: Path, model: ModelSettings) -> dict[str, object]:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    (tmp_path / "models.toml").write_text(
        f'[models.m]\nfile = "m.gguf"\nsha256 = "{"1" * 64}"\nsize = 4\nengine = "llama.cpp"\n'
        "context = 4096\n"
    )
    settings = config.Settings(data_dir=tmp_path, model=model)
    plan = Sidecar.from_settings(settings).plan
    cfg = json.loads(next(iter(plan.private_files.values())))
    models = cfg["models"]
    assert isinstance(models, list)
    return dict(models[0])


def test_sidecar_gets_all_layers_with_a_gpu_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sidecar, "llama_gpu_backend", lambda: "cuda")
    m = _sidecar_config(tmp_path, ModelSettings(default_model="m", tensor_split=(1, 1)))
    assert m["n_gpu_layers"] == -1
    assert m["main_gpu"] == 0
    assert m["tensor_split"] == [1.0, 1.0]
    assert m["flash_attn"] is False


def test_sidecar_stays_on_the_cpu_with_a_cpu_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sidecar, "llama_gpu_backend", lambda: None)
    m = _sidecar_config(tmp_path, ModelSettings(default_model="m", main_gpu=1))
    assert m["n_gpu_layers"] == 0
    assert "main_gpu" not in m
    assert "tensor_split" not in m
    configured = _sidecar_config(
        tmp_path, ModelSettings(default_model="m", gpu_layers=12, flash_attn=True)
    )
    assert (configured["n_gpu_layers"], configured["flash_attn"]) == (12, True)


def test_gpu_settings_load_from_revisor_toml(tmp_path: Path) -> None:
    (tmp_path / config.CONFIG_NAME).write_text(
        "[model]\ngpu_layers = 20\nmain_gpu = 1\ntensor_split = [0.25, 0.75]\nflash_attn = true\n"
    )
    m = config.load(tmp_path, environ={"REVISOR_MODEL__GPU_LAYERS": "-1"}).model
    assert (m.gpu_layers, m.main_gpu, m.tensor_split, m.flash_attn) == (-1, 1, (0.25, 0.75), True)
    (tmp_path / config.CONFIG_NAME).write_text('[model]\nflash_attn = "yes"\n')
    with pytest.raises(ConfigError, match="flash_attn"):
        config.load(tmp_path, environ={})


def test_query_reads_nvidia_smi(tmp_path: Path) -> None:
    smi = nvidia_smi.install(
        tmp_path / "bin",
        (FakeGpu(), FakeGpu("NVIDIA A100-SXM4-80GB", 81920, 1024)),
        apps=((4242, 1536),),
    )
    report = gpu.query_gpus(str(smi))
    assert report is not None
    assert (report.driver, report.cuda) == ("550.54.15", "12.4")
    assert [(g.index, g.name) for g in report.gpus] == [
        (0, "NVIDIA H200"),
        (1, "NVIDIA A100-SXM4-80GB"),
    ]
    assert report.gpus[0].free_bytes == 143292 * 1024**2
    assert report.gpus[1].total_bytes == 81920 * 1024**2
    assert report.used_by_pid == ((4242, 1536 * 1024**2),)


def test_query_absent_broken_and_hung_nvidia_smi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert gpu.query_gpus() is None  # no nvidia-smi: no GPU
    broken = nvidia_smi.install(tmp_path / "broken", driver_missing=True)
    with pytest.raises(GpuQueryError, match="couldn't communicate with the NVIDIA driver"):
        gpu.query_gpus(str(broken))
    hung = nvidia_smi.install(tmp_path / "hung", hang=True)
    with pytest.raises(GpuQueryError, match="did not answer"):
        gpu.query_gpus(str(hung), timeout=0.5)


def test_parse_refuses_unexpected_output() -> None:
    with pytest.raises(GpuQueryError, match="unexpected"):
        gpu.parse_query("index, name, driver_version\n")
    with pytest.raises(GpuQueryError, match="no GPU"):
        gpu.parse_query("")
    _, gpus = gpu.parse_query("0, NVIDIA GB10, 580.95.05, [N/A], [N/A]\n")
    assert gpus[0].free_bytes is None


SHAPE = ModelShape("qwen2", block_count=28, head_count_kv=2, key_length=128, value_length=128)


def test_fit_counts_weights_kv_cache_and_margin() -> None:
    report = gpu.GpuReport("550", "12.4", (gpu.Gpu(0, "g", 24 * GIB, 2 * GIB),))
    kv = SHAPE.kv_cache_bytes(32768)
    assert kv == 32768 * 28 * 2 * 256 * 2  # 896 MiB at f16
    small = gpu.fit(GIB // 2, SHAPE, 8192, Offload(gpu_layers=-1), report)
    assert small.fits
    assert small.need_bytes == GIB // 2 + SHAPE.kv_cache_bytes(8192) + gpu.WORK_MARGIN
    big = gpu.fit(GIB, SHAPE, 32768, Offload(gpu_layers=-1), report)
    assert not big.fits
    assert "free on GPU 0" in big.detail
    half = gpu.fit(GIB, SHAPE, 32768, Offload(gpu_layers=14), report)
    assert half.fits  # half of the layers: half of weights and cache
    # The running sidecar's own memory comes back on restart.
    assert gpu.fit(GIB, SHAPE, 32768, Offload(gpu_layers=-1), report, own_bytes=GIB).fits


def test_fit_uses_main_gpu_or_all_gpus_of_the_split() -> None:
    gpus = (gpu.Gpu(0, "a", 24 * GIB, GIB), gpu.Gpu(1, "b", 24 * GIB, 20 * GIB))
    report = gpu.GpuReport("550", "12.4", gpus)
    assert not gpu.fit(4 * GIB, SHAPE, 8192, Offload(-1, main_gpu=0), report).fits
    assert gpu.fit(4 * GIB, SHAPE, 8192, Offload(-1, main_gpu=1), report).fits
    assert gpu.fit(4 * GIB, SHAPE, 8192, Offload(-1, tensor_split=(1, 1)), report).fits
    missing = gpu.fit(GIB, SHAPE, 8192, Offload(-1, main_gpu=3), report)
    assert not missing.fits
    assert "not on this host" in missing.detail
