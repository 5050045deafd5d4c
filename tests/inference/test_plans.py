"""The engine plans: command line, environment, private config, death signal (all pure)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from revisor.errors import ConfigError
from revisor.inference.gpu import Offload
from revisor.inference.manifest import ModelSpec
from revisor.inference.plans import OFFLINE_ENV, llama_cpp_plan, vllm_plan

KEY = "sk-sidecar-0123456789"
HOSTILE_ENV = {"PATH": "/usr/bin", "HOST": "0.0.0.0", "PORT": "80", "HTTPS_PROXY": "http://p:3128",
               "CONFIG_FILE": "/tmp/evil.json", "VLLM_API_KEY": "stale"}  # fmt: skip


def spec(engine: str = "llama.cpp", context: int = 8192, chat_format: str = "chatml") -> ModelSpec:
    return ModelSpec("m1", "/models/m.gguf", "0" * 64, 1, engine, context, chat_format)


def test_llama_cpp_plan_keeps_the_key_off_the_command_line(tmp_path: Path) -> None:
    plan = llama_cpp_plan(
        spec(), Path("/models/m.gguf"), host="127.0.0.1", port=8081, n_ctx=4096, api_key=KEY,
        run_dir=tmp_path, python="/venv/bin/python", base_env=HOSTILE_ENV,
    )  # fmt: skip
    config_path = tmp_path / "llama-sidecar.json"
    assert plan.argv == (
        "/venv/bin/python",
        "-m",
        "llama_cpp.server",
        "--config_file",
        str(config_path),
    )
    assert KEY not in " ".join(plan.argv)
    assert plan.base_url == "http://127.0.0.1:8081/v1"
    assert plan.concurrency == 1
    assert plan.death_signal == signal.SIGKILL  # nothing to save: killed with its launcher
    cfg = json.loads(plan.private_files[config_path])
    assert cfg["api_key"] == KEY
    assert cfg["interrupt_requests"] is False
    assert (cfg["host"], cfg["port"]) == ("127.0.0.1", 8081)
    assert cfg["models"] == [
        {"model": "/models/m.gguf", "model_alias": "m1", "n_ctx": 4096, "verbose": False,
         "n_gpu_layers": 0, "chat_format": "chatml"}
    ]  # fmt: skip
    # llama-cpp-python lets HOST/PORT/CONFIG_FILE override its config: they must not leak in.
    for name in ("HOST", "PORT", "CONFIG_FILE", "HTTPS_PROXY", "VLLM_API_KEY"):
        assert name not in plan.env
    assert plan.env["PATH"] == "/usr/bin"
    assert KEY not in plan.env.values()


def test_llama_cpp_config_is_accepted_by_llama_cpp_python(tmp_path: Path) -> None:
    settings_mod = pytest.importorskip("llama_cpp.server.settings")
    plan = llama_cpp_plan(spec(), Path("/m.gguf"), host="127.0.0.1", port=1, n_ctx=512,
                          api_key=KEY, run_dir=tmp_path)  # fmt: skip
    parsed = settings_mod.ConfigFileSettings.model_validate_json(
        next(iter(plan.private_files.values()))
    )
    assert parsed.interrupt_requests is False
    assert parsed.api_key == KEY
    assert parsed.models[0].model_alias == "m1"


def test_gpu_offload_is_accepted_by_llama_cpp_python(tmp_path: Path) -> None:
    """The GPU settings reach the server under the names its ModelSettings accepts (an unknown
    key is refused there: pydantic-settings forbids extras)."""
    settings_mod = pytest.importorskip("llama_cpp.server.settings")
    off = Offload(gpu_layers=-1, main_gpu=1, tensor_split=(0.25, 0.75), flash_attn=True)
    plan = llama_cpp_plan(spec(), Path("/m.gguf"), host="127.0.0.1", port=1, n_ctx=512,
                          api_key=KEY, run_dir=tmp_path, offload=off)  # fmt: skip
    parsed = settings_mod.ConfigFileSettings.model_validate_json(
        next(iter(plan.private_files.values()))
    ).models[0]
    assert parsed.n_gpu_layers == -1
    assert parsed.main_gpu == 1
    assert parsed.tensor_split == [0.25, 0.75]
    assert parsed.flash_attn is True
    with pytest.raises(ValueError, match="gpu_layer"):  # a misspelt key is refused there
        settings_mod.ConfigFileSettings.model_validate(
            {"models": [{"model": "/m.gguf", "gpu_layers": -1}]}
        )


def test_llama_cpp_refuses_non_loopback_and_oversized_context(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        llama_cpp_plan(
            spec(), Path("/m"), host="0.0.0.0", port=1, n_ctx=512, api_key=KEY, run_dir=tmp_path
        )
    with pytest.raises(ConfigError, match="larger than"):
        llama_cpp_plan(spec(context=2048), Path("/m"), host="::1", port=1, n_ctx=4096, api_key=KEY,
                       run_dir=tmp_path)  # fmt: skip
    plan = llama_cpp_plan(
        spec(), Path("/m"), host="::1", port=9, n_ctx=512, api_key=KEY, run_dir=tmp_path
    )
    assert plan.base_url == "http://[::1]:9/v1"


def test_vllm_plan_command_and_offline_env() -> None:
    plan = vllm_plan(
        spec("vllm", 32768, chat_format=""), Path("/models/qwen"), host="127.0.0.1", port=8000,
        max_model_len=16384, api_key=KEY, max_num_seqs=32, base_env=HOSTILE_ENV,
        python="/opt/revisor/vllm-venv/bin/python",
    )  # fmt: skip
    assert plan.argv == (
        "/opt/revisor/vllm-venv/bin/python", "-m", "vllm.entrypoints.openai.api_server",
        "--model", "/models/qwen", "--served-model-name", "m1", "--host", "127.0.0.1",
        "--port", "8000", "--max-model-len", "16384", "--max-num-seqs", "32",
        "--disable-fastapi-docs",
    )  # fmt: skip
    assert KEY not in " ".join(plan.argv)
    assert "--enable-log-requests" not in plan.argv  # prompts (code) stay out of the engine's log
    assert plan.env["VLLM_API_KEY"] == KEY
    for name, value in OFFLINE_ENV.items():
        assert plan.env[name] == value
    assert plan.env["VLLM_NO_USAGE_STATS"] == "1"
    assert plan.env["HF_HUB_OFFLINE"] == "1"
    assert "HTTPS_PROXY" not in plan.env
    assert plan.concurrency == 32
    assert plan.death_signal == signal.SIGTERM  # vLLM must stop its own engine processes
    assert plan.private_files == {}
    assert "VLLM_CACHE_ROOT" not in plan.env  # without a cache dir, vLLM's own default


def test_vllm_plan_keeps_caches_and_config_in_the_cache_dir() -> None:
    plan = vllm_plan(
        spec("vllm", 4096, chat_format=""), Path("/m"), host="127.0.0.1", port=1,
        max_model_len=1024, api_key=KEY, cache_dir=Path("/data/cache/vllm"),
    )  # fmt: skip
    assert plan.env["VLLM_CACHE_ROOT"] == "/data/cache/vllm"
    assert plan.env["VLLM_CONFIG_ROOT"] == "/data/cache/vllm/config"
    assert plan.env["TORCHINDUCTOR_CACHE_DIR"] == "/data/cache/vllm/inductor"
    assert plan.env["TRITON_CACHE_DIR"] == "/data/cache/vllm/triton"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "gpu1.internal"])
def test_vllm_plan_listens_on_loopback_only(host: str) -> None:
    with pytest.raises(ConfigError, match="loopback only"):
        vllm_plan(spec("vllm", 4096, chat_format=""), Path("/m"), host=host, port=1,
                  max_model_len=1024, api_key=KEY)  # fmt: skip
    plan = vllm_plan(spec("vllm", 4096, chat_format=""), Path("/m"), host="::1", port=9,
                     max_model_len=1024, api_key=KEY)  # fmt: skip
    assert plan.base_url == "http://[::1]:9/v1"
