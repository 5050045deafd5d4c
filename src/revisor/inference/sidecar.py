"""The embedded inference sidecar: llama.cpp (llama-cpp-python's server) or `vllm serve`.

Both engines expose the same OpenAI-compatible API, so the rest of Revisor only sees a base URL
(`http://127.0.0.1:8081/v1`) and an API key. This module

- builds the exact command line, environment and private config file for an engine
  (`llama_cpp_plan`, `vllm_plan`: pure, so tests check them without running anything);
- checks the model's sha256 against the manifest before starting it;
- starts the process, polls `/v1/models` until it answers, and stops it.

The API key never appears on a command line (where `ps` shows it to every user): llama.cpp reads
it from a 0600 JSON config file (`--config_file`), vLLM from the `VLLM_API_KEY` environment
variable (readable only by the same user and root).

llama-cpp-python's server runs one request at a time and, unless `interrupt_requests` is false,
a new request *cancels* the running one; both facts decide the client's concurrency for it (1).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from revisor.config import Settings
from revisor.egress import Egress
from revisor.errors import ConfigError, ModelUnavailable
from revisor.inference.manifest import ModelSpec, load_manifest, verify
from revisor.secrets import read_secret_file, write_private_file

API_KEY_FILE = "sidecar-api.key"  # in <data dir>/keys/, next to the key-encryption keys
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
    spec: ModelSpec, model_path: Path, *, host: str, port: int, n_ctx: int, api_key: str
) -> dict[str, object]:
    """llama-cpp-python's `ConfigFileSettings` (server settings + one model), as JSON data."""
    model: dict[str, object] = {
        "model": str(model_path),
        "model_alias": spec.id,
        "n_ctx": n_ctx,
        "verbose": False,
    }
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
    config = llama_cpp_config(spec, model_path, host=host, port=port, n_ctx=n_ctx, api_key=api_key)
    return SidecarPlan(
        engine="llama.cpp",
        model_id=spec.id,
        argv=(python, "-m", "llama_cpp.server", "--config_file", str(config_path)),
        env=sidecar_env(os.environ if base_env is None else base_env),
        base_url=f"http://{_url_host(host)}:{port}/v1",
        private_files={config_path: json.dumps(config, indent=2).encode()},
        concurrency=1,
    )


def vllm_plan(
    spec: ModelSpec,
    model_path: Path,
    *,
    host: str,
    port: int,
    max_model_len: int,
    api_key: str,
    max_num_seqs: int = 16,
    vllm: str = "vllm",
    base_env: Mapping[str, str] | None = None,
) -> SidecarPlan:
    """`vllm serve` for a local model directory. vLLM batches, so its concurrency is real."""
    if max_model_len > spec.context:
        raise ConfigError(
            f"context {max_model_len} is larger than model {spec.id!r} supports ({spec.context})"
        )
    argv = [
        vllm,
        "serve",
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
    ]
    if spec.chat_format.endswith(".jinja"):
        argv += ["--chat-template", spec.chat_format]
    return SidecarPlan(
        engine="vllm",
        model_id=spec.id,
        argv=tuple(argv),
        env=sidecar_env(os.environ if base_env is None else base_env, {"VLLM_API_KEY": api_key}),
        base_url=f"http://{_url_host(host)}:{port}/v1",
        concurrency=max_num_seqs,
    )


def ensure_api_key(path: Path) -> str:
    """The sidecar's API key: read from its 0600 file, created on first use."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it first
            write_private_file(path, secrets.token_urlsafe(32).encode())
    return read_secret_file(path)


def wait_healthy(
    base_url: str,
    timeout: float,
    *,
    api_key: str | None = None,
    egress: Egress | None = None,
    interval: float = 0.25,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll `GET {base_url}/models` until it answers 200; raise ModelUnavailable at `timeout`.

    `alive`, if given, is a callable returning False once the process has exited, so a sidecar
    that crashed on start is reported at once instead of after the whole timeout.
    """
    egress = egress or Egress.from_urls([base_url])
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with egress.client(
        base_url, purpose="model health", timeout=min(5.0, timeout), headers=headers
    ) as client:
        while True:
            if alive is not None and not alive():
                raise ModelUnavailable(f"model sidecar at {base_url} exited while starting")
            try:
                response = client.get(base_url.rstrip("/") + "/models")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() + interval > deadline:
                raise ModelUnavailable(
                    f"model sidecar at {base_url} not healthy after {timeout:.0f}s ({last})"
                )
            time.sleep(interval)


class Sidecar:
    """One running (or startable) sidecar process. Used by `revisor up` and `revisor inference`."""

    def __init__(self, plan: SidecarPlan, spec: ModelSpec, api_key: str, log_path: Path) -> None:
        self.plan = plan
        self.spec = spec
        self._api_key = api_key
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        engine: str | None = None,
        model_id: str | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> Sidecar:
        m = settings.model
        spec = load_manifest(settings.data_dir).get(model_id or m.default_model)
        engine = engine or m.engine
        if spec.engine != engine:
            raise ConfigError(
                f"model {spec.id!r} is for engine {spec.engine}, not {engine}; "
                "pick a model of that engine (revisor model list)"
            )
        path = spec.resolve()
        api_key = ensure_api_key(settings.keys_dir / API_KEY_FILE)
        host = host or m.sidecar_host
        port = port or m.sidecar_port
        context = min(m.sidecar_context, spec.context)
        plan = (
            llama_cpp_plan(
                spec,
                path,
                host=host,
                port=port,
                n_ctx=context,
                api_key=api_key,
                run_dir=settings.data_dir / "run",
            )
            if engine == "llama.cpp"
            else vllm_plan(
                spec,
                path,
                host=host,
                port=port,
                max_model_len=context,
                api_key=api_key,
                max_num_seqs=max(1, m.sidecar_parallel),
            )
        )
        return cls(plan, spec, api_key, settings.log_dir / "sidecar.log")

    @property
    def base_url(self) -> str:
        return self.plan.base_url

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def model_id(self) -> str:
        return self.plan.model_id

    @property
    def concurrency(self) -> int:
        return self.plan.concurrency

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Verify the model's digest, write the private config, start the process."""
        if self.running():
            return
        verify(self.spec)
        for path, data in self.plan.private_files.items():
            path.unlink(missing_ok=True)
            write_private_file(path, data)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                self.plan.argv,
                env=dict(self.plan.env),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it
            )
        except OSError as exc:
            self._cleanup()
            raise ConfigError(f"cannot start {self.plan.argv[0]}: {exc.strerror}") from None

    def wait_healthy(self, timeout: float = 120.0) -> None:
        try:
            wait_healthy(self.base_url, timeout, api_key=self._api_key, alive=self.running)
        except ModelUnavailable as exc:
            raise ModelUnavailable(
                f"{exc}; last lines of {self.log_path}:\n{self.log_tail()}"
            ) from None
        # The server has read its config (and the API key in it): no need to keep it on disk.
        for path in self.plan.private_files:
            path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_bytes()[-8192:].decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the process exits (or `timeout`); returns its exit code or None."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        for path in self.plan.private_files:
            path.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Sidecar:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
