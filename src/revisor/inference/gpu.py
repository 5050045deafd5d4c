"""GPU offload for the llama.cpp sidecar: which build is installed, what the GPUs report, and
whether a model fits.

- `llama_gpu_backend()` looks for a GPU backend library (`libggml-cuda.so`, ...) inside the
  installed llama-cpp-python *without importing it* (importing loads the native libraries);
- `decide_gpu_layers()` is the one rule for `[model] gpu_layers`: unset means all layers (-1)
  with a GPU build, 0 without; `offload()` turns `[model]` into the settings the sidecar gets;
- `query_gpus()` runs `nvidia-smi` (bounded by a timeout) and parses its CSV query output;
- `fit()` compares the model file plus its KV cache with the GPU's free memory.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from revisor.config import ModelSettings
from revisor.errors import ConfigError, RevisorError
from revisor.inference.gguf import ModelShape

GPU_BACKENDS = ("cuda", "hip", "vulkan", "sycl", "metal")
QUERY_FIELDS = "index,name,driver_version,memory.total,memory.free"
APPS_FIELDS = "pid,used_memory"
MIB = 1024**2
# CUDA context, cuBLAS workspace and llama.cpp's compute buffers: measured ~0.3-0.6 GiB for
# small models at 8k context; counted as a flat margin.
WORK_MARGIN = 768 * MIB
_CUDA = re.compile(r"CUDA Version\s*:\s*([0-9][0-9.]*)")

Runner = Callable[[Sequence[str], float], str]


class GpuQueryError(RevisorError):
    """`nvidia-smi` is there but did not answer (no driver loaded, timeout, odd output)."""


@dataclass(frozen=True)
class Offload:
    """What llama-cpp-python's server gets for the GPU (its ModelSettings names)."""

    gpu_layers: int = 0
    main_gpu: int = 0
    tensor_split: tuple[float, ...] = ()
    flash_attn: bool = False


CPU_ONLY = Offload()


def llama_gpu_backend(package: str = "llama_cpp") -> str | None:
    """`cuda`, `hip`, ... when the installed llama-cpp-python carries that backend, else None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        lib = Path(location) / "lib"
        for backend in GPU_BACKENDS:
            if any(lib.glob(f"libggml-{backend}.so*")):
                return backend
    return None


def decide_gpu_layers(configured: int | None, backend: str | None) -> int:
    """`[model] gpu_layers`: as set (-1 = all), or when unset all with a GPU build, else 0."""
    if configured is None:
        return -1 if backend else 0
    if isinstance(configured, bool) or not isinstance(configured, int) or configured < -1:
        raise ConfigError(
            f"[model] gpu_layers must be -1 (all), 0 or a layer count, got {configured!r}"
        )
    return configured


def offload(model: ModelSettings, backend: str | None) -> Offload:
    """The sidecar's GPU settings from `[model]`, checked."""
    if (
        isinstance(model.main_gpu, bool)
        or not isinstance(model.main_gpu, int)
        or model.main_gpu < 0
    ):
        raise ConfigError(
            f"[model] main_gpu must be a GPU index (0, 1, ...), got {model.main_gpu!r}"
        )
    split = model.tensor_split
    if split and not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x >= 0
        for x in split
    ):
        raise ConfigError(f"[model] tensor_split must be non-negative numbers, got {list(split)!r}")
    if split and sum(split) <= 0:
        raise ConfigError("[model] tensor_split must give some share to at least one GPU")
    return Offload(
        gpu_layers=decide_gpu_layers(model.gpu_layers, backend),
        main_gpu=model.main_gpu,
        tensor_split=tuple(float(x) for x in split),
        flash_attn=bool(model.flash_attn),
    )


# --- nvidia-smi -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int | None  # None: the driver reports [N/A] (e.g. unified memory)
    free_bytes: int | None


@dataclass(frozen=True)
class GpuReport:
    driver: str
    cuda: str  # the highest CUDA version the driver supports; "" when not reported
    gpus: tuple[Gpu, ...]
    used_by_pid: tuple[tuple[int, int], ...] = ()  # (pid, bytes) of compute processes


def _run(argv: Sequence[str], timeout: float) -> str:
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise GpuQueryError(f"{argv[0]} did not answer within {timeout:.0f} s") from None
    except OSError as exc:
        raise GpuQueryError(f"{argv[0]}: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stdout + proc.stderr).strip().splitlines()
        raise GpuQueryError(
            f"{argv[0]} exited with {proc.returncode}: {detail[0] if detail else 'no output'}"
        )
    return proc.stdout


def _mib(value: str) -> int | None:
    value = value.strip()
    return int(float(value)) * MIB if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) else None


def parse_query(text: str) -> tuple[str, tuple[Gpu, ...]]:
    """`--query-gpu=index,name,driver_version,memory.total,memory.free --format=csv,noheader,
    nounits` output: one line per GPU, `0, NVIDIA H200, 550.54.15, 143771, 143292`."""
    gpus: list[Gpu] = []
    driver = ""
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if not row:
            continue
        if len(row) != 5 or not row[0].strip().isdigit():
            raise GpuQueryError(f"unexpected nvidia-smi output: {', '.join(row)[:200]!r}")
        index, name, driver, total, free = (c.strip() for c in row)
        gpus.append(Gpu(int(index), name, _mib(total), _mib(free)))
    if not gpus:
        raise GpuQueryError("nvidia-smi listed no GPU")
    return driver, tuple(gpus)


def parse_apps(text: str) -> tuple[tuple[int, int], ...]:
    """`--query-compute-apps=pid,used_memory --format=csv,noheader,nounits`: `4242, 1536`."""
    out = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if len(row) == 2 and row[0].strip().isdigit() and (used := _mib(row[1])) is not None:
            out.append((int(row[0]), used))
    return tuple(out)


def query_gpus(
    smi: str | None = None, *, timeout: float = 10.0, run: Runner = _run
) -> GpuReport | None:
    """What `nvidia-smi` reports; None when it is not installed (no NVIDIA driver: no GPU)."""
    exe = smi or shutil.which("nvidia-smi")
    if exe is None:
        return None
    driver, gpus = parse_query(
        run([exe, f"--query-gpu={QUERY_FIELDS}", "--format=csv,noheader,nounits"], timeout)
    )
    try:  # CUDA is no --query-gpu field: it is in the header of `nvidia-smi -q`
        match = _CUDA.search(run([exe, "-q", "-d", "MEMORY"], timeout))
        cuda = match.group(1) if match else ""
        apps_argv = [exe, f"--query-compute-apps={APPS_FIELDS}", "--format=csv,noheader,nounits"]
        apps = parse_apps(run(apps_argv, timeout))
    except GpuQueryError:
        cuda, apps = "", ()
    return GpuReport(driver, cuda, gpus, apps)


# --- does the model fit? ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    fits: bool
    need_bytes: int
    free_bytes: int
    detail: str


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"


def fit(
    model_bytes: int,
    shape: ModelShape | None,
    n_ctx: int,
    off: Offload,
    report: GpuReport,
    *,
    own_bytes: int = 0,
) -> Fit:
    """Model weights (the share on the GPU) + KV cache + a working margin vs free memory.

    Free memory is that of `main_gpu`, or of all GPUs with `tensor_split`; `own_bytes` (memory the
    running sidecar already holds) is counted as free, since a restart gives it back."""
    if off.tensor_split:
        used = [g for g in report.gpus if g.index < len(off.tensor_split)]
    else:
        used = [g for g in report.gpus if g.index == off.main_gpu]
    if not used:
        return Fit(False, 0, 0, f"GPU {off.main_gpu} ([model] main_gpu) is not on this host")
    if any(g.free_bytes is None for g in used):
        return Fit(True, 0, 0, "the driver does not report free GPU memory; not checked")
    free = sum(g.free_bytes or 0 for g in used) + own_bytes
    share = 1.0
    if shape is not None and off.gpu_layers >= 0:
        share = min(1.0, off.gpu_layers / shape.block_count)
    kv = shape.kv_cache_bytes(n_ctx) if shape is not None else 0
    need = int((model_bytes + kv) * share) + WORK_MARGIN
    kv_text = f"KV cache {_gib(kv)} at {n_ctx} tokens" if shape else "KV cache unknown"
    detail = (
        f"needs about {_gib(need)} (model {_gib(model_bytes)}, {kv_text}, "
        f"{'all layers' if share == 1.0 else f'{share:.0%} of the layers'}, "
        f"{_gib(WORK_MARGIN)} working space); {_gib(free)} free on GPU "
        f"{', '.join(str(g.index) for g in used)}"
    )
    return Fit(need <= free, need, free, detail)
