"""ProcessGroup, the PR_SET_PDEATHSIG wrapper and StopSignals, on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from revisor.errors import ConfigError
from revisor.inference import deathsig
from revisor.inference.supervise import (
    DEATHSIG_SCRIPT,
    ProcessGroup,
    StopSignals,
    with_death_signal,
)
from tests.inference.procs import alive, kill_all, wait_for

GONE_WITHIN = 20.0


def test_the_wrapper_runs_nothing_when_its_parent_is_already_gone(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # Started by us, but told its parent is pid 1: as if we had died before prctl took effect.
    command = with_death_signal(["touch", str(marker)], signal.SIGKILL, parent=1)
    result = subprocess.run(command, timeout=30, check=False)
    assert result.returncode == deathsig.EXIT_PARENT_GONE
    assert not marker.exists()


def test_the_wrapper_execs_the_command_in_place(tmp_path: Path) -> None:
    out = subprocess.run(
        with_death_signal([sys.executable, "-c", "import os; print(os.getpid())"], 9),
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert out.stdout.strip().isdigit()
    bad = subprocess.run(
        with_death_signal(["/nonexistent/engine"], 9), capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    assert bad.returncode == deathsig.EXIT_NOT_FOUND
    assert "cannot run /nonexistent/engine" in bad.stderr


def test_the_wrapper_imports_the_standard_library_only() -> None:
    """It runs with -I -S, before revisor is importable."""
    text = DEATHSIG_SCRIPT.read_text()
    assert "import revisor" not in text
    assert "from revisor" not in text


def test_a_child_dies_with_the_process_that_spawned_it(tmp_path: Path) -> None:
    """A launcher that spawns `sleep` through a ProcessGroup, then is SIGKILLed."""
    pidfile = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import time
        from revisor.inference.supervise import ProcessGroup
        child = ProcessGroup().spawn(["sleep", "600"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(600)
    """)
    launcher = subprocess.Popen([sys.executable, "-c", script])
    child = 0
    try:
        wait_for("the child", lambda: pidfile.exists() and pidfile.read_text().isdigit())
        child = int(pidfile.read_text())
        assert alive(child)
        launcher.kill()
        launcher.wait(30)
        wait_for("the child to die with its parent", lambda: not alive(child), GONE_WITHIN)
    finally:
        launcher.kill()
        launcher.wait(30)
        kill_all([child] if child else [])


def test_children_share_one_group_and_close_kills_grandchildren(tmp_path: Path) -> None:
    grandchild_file = tmp_path / "grandchild.pid"
    grandchild_file.write_text("")
    group = ProcessGroup()
    grandchild = 0
    try:
        first = group.spawn(["sleep", "600"])
        second = group.spawn(["/bin/sh", "-c", f"sleep 600 & echo $! > {grandchild_file}; wait"])
        assert os.getpgid(first.pid) == first.pid == group.pgid
        assert os.getpgid(second.pid) == group.pgid
        assert os.getpgid(first.pid) != os.getpgrp()  # a terminal's Ctrl-C reaches us alone
        wait_for("the grandchild", lambda: grandchild_file.read_text().strip().isdigit())
        grandchild = int(grandchild_file.read_text())
        # SIGTERM to `sh` does not reach the `sleep` it started; the group kill does.
        group.close(timeout=5)
        assert first.returncode is not None
        assert second.returncode is not None
        wait_for("the grandchild to be killed", lambda: not alive(grandchild), GONE_WITHIN)
    finally:
        group.close(timeout=5)
        kill_all([grandchild] if grandchild else [])


DEAF_PARENT = textwrap.dedent(
    """
    import signal, subprocess, sys, pathlib
    # Like Granian caught mid start-up: the parent takes SIGTERM but does not pass it on, and
    # waits for a worker that exits only when it gets SIGTERM itself.
    signal.signal(signal.SIGTERM, lambda *_: None)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    pathlib.Path(sys.argv[1]).write_text(str(worker.pid))
    sys.exit(0 if worker.wait() == -signal.SIGTERM else 3)
    """
)


def test_terminate_sends_sigterm_again_to_a_child_and_its_workers(tmp_path: Path) -> None:
    """A SIGTERM lost on its way to a child's workers is sent again, before any SIGKILL."""
    pid_file = tmp_path / "worker.pid"
    pid_file.write_text("")
    group = ProcessGroup()
    worker = 0
    try:
        parent = group.spawn([sys.executable, "-c", DEAF_PARENT, str(pid_file)])
        wait_for("the worker", lambda: pid_file.read_text().strip().isdigit())
        worker = int(pid_file.read_text())
        group.terminate([parent], timeout=60)
        assert parent.returncode == 0  # the worker got SIGTERM; nobody was SIGKILLed
        assert not alive(worker)
    finally:
        group.close(timeout=5)
        kill_all([worker] if worker else [])


def test_a_new_group_is_started_when_the_old_one_is_empty() -> None:
    group = ProcessGroup()
    try:
        first = group.spawn(["true"])
        first.wait(30)
        second = group.spawn(["sleep", "600"])
        assert group.pgid == second.pid == os.getpgid(second.pid)
    finally:
        group.close(timeout=5)


def test_spawn_refuses_a_missing_command_and_a_thread() -> None:
    group = ProcessGroup()
    with pytest.raises(ConfigError, match="cannot start no-such-engine-xyz: command not found"):
        group.spawn(["no-such-engine-xyz"])
    errors: list[BaseException] = []

    def from_a_thread() -> None:
        try:
            group.spawn(["sleep", "600"])
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=from_a_thread)
    thread.start()
    thread.join(30)
    group.close(timeout=5)
    assert len(errors) == 1
    assert "main thread" in str(errors[0])
    assert group.children == ()


def test_stop_signals_set_an_event_instead_of_raising() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt by default
        assert stop.wait(10)
        assert stop.name == "SIGINT"
    assert signal.getsignal(signal.SIGTERM) is before
