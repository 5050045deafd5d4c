"""`revisor doctor`'s GPU checks: what `nvidia-smi` reports, and whether the chosen model fits.

`gpu` says which GPUs, driver and CUDA version the host has ("no GPU" without `nvidia-smi`) and
fails when the configuration asks for a GPU that cannot be used (no GPU, or a CPU build of
llama-cpp-python with `[model] gpu_layers` set). `gpu:fit` compares the default model (file,
plus its KV cache at the sidecar's context for llama.cpp) with the GPU's free memory, counting
the memory a running sidecar already holds as free.
"""

from __future__ import annotations

from pathlib import Path

from revisor.config import Settings
from revisor.errors import ConfigError, RevisorError
from revisor.inference import gpu
from revisor.inference import manifest as model_manifest
from revisor.inference.gguf import GgufError, ModelShape, model_shape
from revisor.ops.checks import Check, failed, passed, skipped

PACK_FIX = (
    "install the GPU inference pack (docs/install.md, 'GPU hosts'), or set [model] "
    "gpu_layers = 0 to run on the CPU"
)


def _describe(report: gpu.GpuReport) -> str:
    cards = "; ".join(
        f"GPU {g.index} {g.name}: "
        + (
            f"{g.free_bytes / 1024**3:.1f} GiB free of {g.total_bytes / 1024**3:.1f} GiB"
            if g.free_bytes is not None and g.total_bytes is not None
            else "memory not reported"
        )
        for g in report.gpus
    )
    return f"driver {report.driver}, CUDA {report.cuda or 'unknown'}; {cards}"


def _sidecar_bytes(report: gpu.GpuReport, proc: Path = Path("/proc")) -> int:
    """GPU memory held by running llama.cpp sidecars (`python -m llama_cpp.server`)."""
    total = 0
    for pid, used in report.used_by_pid:
        try:
            cmdline = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"llama_cpp.server" in cmdline:
            total += used
    return total


def check_gpu(
    settings: Settings, *, smi: str | None = None, timeout: float = 10.0, backend: str | None = ""
) -> list[Check]:
    """`backend` "" means: look at the installed llama-cpp-python (tests pass None or a name)."""
    m = settings.model
    backend = gpu.llama_gpu_backend() if backend == "" else backend
    llama = m.engine == "llama.cpp"
    try:
        off = gpu.offload(m, backend)
    except ConfigError as exc:
        return [failed("gpu", str(exc), "fix [model] in revisor.toml")]
    wants_gpu = (off.gpu_layers != 0) if llama else True
    try:
        report = gpu.query_gpus(smi, timeout=timeout)
    except gpu.GpuQueryError as exc:
        return [
            failed(
                "gpu",
                f"nvidia-smi failed: {exc}",
                "check the NVIDIA driver (`nvidia-smi` as root; `lsmod | grep nvidia`)",
            )
        ]
    if report is None:
        if wants_gpu:
            what = f"[model] gpu_layers = {off.gpu_layers}" if llama else "engine vllm"
            return [
                failed(
                    "gpu",
                    f"no GPU (nvidia-smi not found) but {what} needs one",
                    "install the NVIDIA driver (docs/install.md, 'GPU hosts'), or set "
                    '[model] gpu_layers = 0 / engine = "llama.cpp"',
                )
            ]
        return [
            passed("gpu", "no GPU (nvidia-smi not found); the llama.cpp sidecar runs on the CPU")
        ]
    found = _describe(report)
    if llama and backend is None:
        if off.gpu_layers != 0:
            return [
                failed(
                    "gpu",
                    f"{found}; but llama-cpp-python here is a CPU build, so [model] gpu_layers = "
                    f"{off.gpu_layers} cannot offload anything",
                    PACK_FIX,
                )
            ]
        return [
            passed(
                "gpu",
                f"{found}; llama-cpp-python is a CPU build: the sidecar does not use "
                "the GPU (install the GPU inference pack to use it)",
            )
        ]
    where = (
        f"llama.cpp ({backend}) offloads {'all' if off.gpu_layers == -1 else off.gpu_layers} layers"
        if llama
        else "vLLM"
    )
    out = [passed("gpu", f"{found}; {where}")]
    if llama and off.gpu_layers == 0:
        return out
    out.append(_check_fit(settings, off, report))
    return out


def _check_fit(settings: Settings, off: gpu.Offload, report: gpu.GpuReport) -> Check:
    m = settings.model
    try:
        spec = model_manifest.load_manifest(settings.data_dir).get(m.default_model)
        path = spec.resolve()
    except (ConfigError, RevisorError) as exc:
        return skipped("gpu:fit", f"model not checked: {exc}")
    shape: ModelShape | None = None
    n_ctx = min(m.sidecar_context, spec.context)
    if spec.engine == "llama.cpp":
        try:
            shape = model_shape(path)
        except (GgufError, OSError) as exc:
            return failed("gpu:fit", f"{path}: {exc}", "copy the model again (revisor model list)")
    result = gpu.fit(spec.size, shape, n_ctx, off, report, own_bytes=_sidecar_bytes(report))
    name = f"model {spec.id}: {result.detail}"
    if result.fits:
        return passed("gpu:fit", name)
    return failed(
        "gpu:fit",
        name,
        "choose a smaller model or context ([model] default_model, sidecar_context), offload "
        "fewer layers ([model] gpu_layers), spread it over GPUs ([model] tensor_split), or stop "
        "what else uses the GPU (nvidia-smi lists it)",
    )
