"""The embedded inference sidecar: llama.cpp (llama-cpp-python's server) or vLLM's server.

This module runs a `SidecarPlan` (built by the pure functions in `plans.py`):

- checks the model's sha256 against the manifest before starting it;
- checks its port is free, naming the holder when it is not (`ports.py`);
- starts the process bound to its launcher's life (`supervise.py`: it dies when the launcher
  dies, SIGKILL included), polls `/v1/models` until it answers, and stops it.

A health wait is bounded, ends at once (with the exit code and the tail of the engine's log)
when the process exits, and returns early when the launcher is asked to stop.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from revisor.config import Settings
from revisor.egress import Egress
from revisor.errors import ConfigError, ModelUnavailable
from revisor.inference.gpu import llama_gpu_backend, offload
from revisor.inference.manifest import ModelSpec, load_manifest, verify
from revisor.inference.plans import (
    LLAMA_CONFIG_FILE,
    OFFLINE_ENV,
    SidecarPlan,
    is_loopback,
    llama_cpp_config,
    llama_cpp_plan,
    sidecar_env,
    vllm_plan,
)
from revisor.inference.ports import ensure_free
from revisor.inference.supervise import ProcessGroup
from revisor.llm.client import Endpoint
from revisor.llm.health import probe_endpoint
from revisor.secrets import SIDECAR_KEY_FILE as API_KEY_FILE
from revisor.secrets import ensure_api_key, write_private_file

__all__ = [
    "API_KEY_FILE",
    "LLAMA_CONFIG_FILE",
    "OFFLINE_ENV",
    "Sidecar",
    "SidecarExited",
    "SidecarPlan",
    "ensure_api_key",
    "is_loopback",
    "llama_cpp_config",
    "llama_cpp_plan",
    "sidecar_env",
    "vllm_plan",
    "wait_healthy",
]


def wait_healthy(
    base_url: str,
    timeout: float,
    *,
    api_key: str | None = None,
    egress: Egress | None = None,
    interval: float = 0.25,
    alive: Callable[[], bool] | None = None,
    stop: Callable[[], bool] | None = None,
) -> bool:
    """Poll `GET {base_url}/models` (`llm.health.probe_endpoint`) until it answers; raise
    ModelUnavailable at `timeout`.

    `alive`, if given, is a callable returning False once the process has exited, so a sidecar
    that crashed on start is reported at once instead of after the whole timeout. `stop`, if
    given, returns True once the caller was asked to stop: the wait then returns False.
    """
    egress = egress or Egress.from_urls([base_url])
    endpoint = Endpoint(id="sidecar", url=base_url, model="", api_key=api_key)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        if stop is not None and stop():
            return False
        if alive is not None and not alive():
            raise ModelUnavailable(f"model sidecar at {base_url} exited while starting")
        report = probe_endpoint(endpoint, egress, timeout=min(5.0, timeout))
        if report["ok"]:
            return True
        last = report["detail"]
        if time.monotonic() + interval > deadline:
            raise ModelUnavailable(
                f"model sidecar at {base_url} not healthy after {timeout:.0f}s ({last})"
            )
        time.sleep(interval)


class SidecarExited(ModelUnavailable):
    """The sidecar process ended while Revisor waited for it to answer."""

    def __init__(self, message: str, returncode: int | None) -> None:
        super().__init__(message)
        self.returncode = returncode


class Sidecar:
    """One running (or startable) sidecar process. Used by `revisor up` and `revisor inference`."""

    def __init__(self, plan: SidecarPlan, spec: ModelSpec, api_key: str, log_path: Path) -> None:
        self.plan = plan
        self.spec = spec
        self._api_key = api_key
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._group: ProcessGroup | None = None
        self._own_group = False

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
                offload=offload(m, llama_gpu_backend()),
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
                python=m.vllm_python,
                cache_dir=settings.data_dir / "cache" / "vllm",
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

    def check_port(self) -> None:
        """Raise PortBusy, naming the holder, if the engine could not listen on its port."""
        url = urlsplit(self.base_url)
        ensure_free(
            url.hostname or "127.0.0.1",
            url.port or 80,
            what=f"the model sidecar ({self.plan.engine})",
            setting="model.sidecar_port, REVISOR_MODEL__SIDECAR_PORT",
        )

    def start(self, group: ProcessGroup | None = None) -> None:
        """Verify the model's digest and the port, write the private config, start the process.

        The process joins `group` (the launcher's children); without one it gets its own. Either
        way it is killed by the kernel if the launcher dies (supervise.py).
        """
        if self.running():
            return
        verify(self.spec)
        self.check_port()
        for path, data in self.plan.private_files.items():
            path.unlink(missing_ok=True)
            write_private_file(path, data)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._own_group = group is None
        self._group = ProcessGroup() if group is None else group
        try:
            self._proc = self._group.spawn(
                self.plan.argv,
                env=self.plan.env,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                death_signal=self.plan.death_signal,
            )
        except BaseException:
            self._cleanup()
            raise

    def wait_healthy(
        self, timeout: float = 120.0, *, stop: Callable[[], bool] | None = None
    ) -> bool:
        """Wait until the engine answers (True), or `stop()` turns true (False).

        Raises SidecarExited at once if the process ends, ModelUnavailable after `timeout`; both
        messages end with the last lines of the engine's log.
        """
        try:
            healthy = wait_healthy(
                self.base_url, timeout, api_key=self._api_key, alive=self.running, stop=stop
            )
        except ModelUnavailable as exc:
            code = self._proc.returncode if self._proc is not None else None
            tail = f"; last lines of {self.log_path}:\n{self.log_tail()}"
            if code is not None:
                raise SidecarExited(
                    f"model sidecar ({self.plan.engine}) exited with code {code} while "
                    f"starting{tail}",
                    code,
                ) from None
            raise ModelUnavailable(f"{exc}{tail}") from None
        if healthy:
            # The server has read its config (and the API key in it): no need to keep it on disk.
            for path in self.plan.private_files:
                path.unlink(missing_ok=True)
        return healthy

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
        """SIGTERM, then SIGKILL after `timeout`; with its own group, what is left of it too."""
        if self._group is not None:
            if self._proc is not None:
                self._group.terminate([self._proc], timeout)
            if self._own_group:
                self._group.close(timeout)
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
