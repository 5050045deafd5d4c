"""Helpers for tests that start real launchers (`revisor up`, `revisor inference`) and kill them.

A stand-in for the vLLM venv's python (`[model] vllm_python`) plays the engine when a test is about
process supervision, not about inference: it writes its pid to a file, then loads forever, exits
with an error, or answers `/v1/models`, as STANDIN_MODE says.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from revisor import config
from revisor.cli.core import init_data_dir

STANDIN = f"""#!{sys.executable}
import http.server, os, sys, time
mode = os.environ.get("STANDIN_MODE", "serve")
with open(os.environ["STANDIN_PIDFILE"], "w") as f:
    f.write(str(os.getpid()))
if mode == "exit":
    print("stand-in: cannot load the model", flush=True)
    sys.exit(3)
if mode == "load":
    time.sleep(600)
    sys.exit(0)
port = int(sys.argv[sys.argv.index("--port") + 1])
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{{"data": []}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Models).serve_forever()
"""
MODEL = b"stand-in weights"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie left to an init that does not reap counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root: int) -> set[int]:
    """Every process below `root` now (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def kill_all(pids: Iterable[int]) -> None:
    """Cleanup for a failed test: SIGKILL whatever of `pids` still runs."""
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Launcher:
    """A data dir with a stand-in engine, and the launchers started on it (killed at the end)."""

    root: Path
    data: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]]
    known: set[int]

    @property
    def pidfile(self) -> Path:
        return self.root / "standin.pid"

    def start(self, *args: str, mode: str = "serve", **env: str) -> subprocess.Popen[bytes]:
        self.pidfile.unlink(missing_ok=True)
        out = (self.root / f"launcher-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "revisor", *args, "--data-dir", str(self.data)],
            env={**self.env, "STANDIN_MODE": mode, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.procs.append(proc)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.root / f"launcher-{self.procs.index(proc)}.log").read_text()

    def standin_pid(self, proc: subprocess.Popen[bytes]) -> int:
        """The stand-in engine's pid, once it has started (the launcher must not end first)."""

        def started() -> bool:
            assert proc.poll() is None, self.output(proc)
            return self.pidfile.exists() and self.pidfile.read_text().isdigit()

        wait_for("the stand-in engine", started)
        pid = int(self.pidfile.read_text())
        self.known.add(pid)
        return pid


@contextlib.contextmanager
def launcher(root: Path) -> Iterator[Launcher]:
    """An initialised data dir whose default model is served by a stand-in vLLM."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    vllm = bin_dir / "vllm"
    vllm.write_text(STANDIN)
    vllm.chmod(0o755)
    (root / "data").mkdir()
    (root / "data" / "standin.bin").write_bytes(MODEL)
    (root / "data" / "models.toml").write_text(
        f'[models.standin]\nfile = "standin.bin"\nsha256 = "{hashlib.sha256(MODEL).hexdigest()}"\n'
        f'size = {len(MODEL)}\nengine = "vllm"\ncontext = 1024\n'
    )
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', os.defpath)}",
        "STANDIN_PIDFILE": str(root / "standin.pid"),
        "REVISOR_MODEL__ENGINE": "vllm",
        "REVISOR_MODEL__VLLM_PYTHON": str(vllm),
        "REVISOR_MODEL__DEFAULT_MODEL": "standin",
        "REVISOR_MODEL__SIDECAR_CONTEXT": "1024",
        "REVISOR_MODEL__SIDECAR_PORT": str(free_port()),
        "REVISOR_SERVER__PORT": str(free_port()),
    }
    env = {k: v for k, v in env.items() if k != "REVISOR_DATA_DIR"}
    init_data_dir(config.load(root / "data", environ=env))
    state = Launcher(root, root / "data", env, [], set())
    try:
        yield state
    finally:
        for proc in state.procs:
            state.known |= descendants(proc.pid)
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        kill_all(state.known)
