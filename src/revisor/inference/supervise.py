"""Child processes that cannot outlive their launcher, and stop signals that never raise.

`revisor up` runs the model sidecar, the web server and the worker; `revisor inference` runs the
sidecar alone. Whatever happens to the launcher, none of them may be left behind holding a port
and gigabytes of memory:

- every child is started through `deathsig.py`, so the kernel signals it when the launcher dies,
  SIGKILL included (`PR_SET_PDEATHSIG`). The setting belongs to the *thread* that forks, so
  children are started from the main thread only (`spawn` refuses otherwise);
- every child joins one process group of its own (not the launcher's, so a Ctrl-C in the
  terminal reaches the launcher alone, which then stops them in order). `close()` kills what is
  left of that group, grandchildren included (Granian's workers, vLLM's engine processes);
- `StopSignals` turns SIGTERM, SIGINT and SIGHUP into an Event from before the first child
  starts, so a stop during the model load ends everything promptly, without a traceback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from revisor.errors import ConfigError

DEATHSIG_SCRIPT = Path(__file__).with_name("deathsig.py")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def with_death_signal(argv: Sequence[str], signum: int, parent: int | None = None) -> list[str]:
    """`argv`, run so that it receives `signum` when `parent` (default: this process) dies."""
    parent = os.getpid() if parent is None else parent
    return [sys.executable, "-I", "-S", str(DEATHSIG_SCRIPT), str(int(signum)), str(parent), *argv]


RESEND_SECONDS = 2.0  # a stop signal is sent again this often while a child has not exited


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (Linux: /proc/<pid>/task/*/children); none if it is gone."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in children.read_text().split()]
    return found


class ProcessGroup:
    """The children of one launcher: one process group, each bound to the launcher's life."""

    def __init__(self) -> None:
        self.pgid: int | None = None  # the group children join; the first child leads it
        self._groups: set[int] = set()
        self._children: list[subprocess.Popen[bytes]] = []

    @property
    def children(self) -> tuple[subprocess.Popen[bytes], ...]:
        return tuple(self._children)

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: IO[bytes] | int | None = None,
        stderr: IO[bytes] | int | None = None,
        death_signal: int = signal.SIGTERM,
    ) -> subprocess.Popen[bytes]:
        if threading.current_thread() is not threading.main_thread():
            # PR_SET_PDEATHSIG fires when the forking *thread* exits, not the process.
            raise RuntimeError("child processes are started from the main thread only")
        path = (env if env is not None else os.environ).get("PATH", os.defpath)
        if shutil.which(argv[0], path=path) is None:
            raise ConfigError(f"cannot start {argv[0]}: command not found")
        command = with_death_signal(argv, death_signal)
        child_env = dict(env) if env is not None else None
        try:
            proc = self._popen(command, child_env, stdout, stderr, self.pgid or 0)
        except (OSError, subprocess.SubprocessError):
            if self.pgid is None:
                raise
            # The group ended with its last member: start a new one.
            proc = self._popen(command, child_env, stdout, stderr, 0)
            self.pgid = None
        if self.pgid is None:
            self.pgid = proc.pid
        self._groups.add(self.pgid)
        self._children.append(proc)
        return proc

    @staticmethod
    def _popen(
        command: list[str],
        env: dict[str, str] | None,
        stdout: IO[bytes] | int | None,
        stderr: IO[bytes] | int | None,
        group: int,
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            process_group=group,
        )

    def terminate(self, procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
        """SIGTERM `procs` together, wait up to `timeout`, then SIGKILL whichever still runs.

        A SIGTERM that reaches a child while it is still starting can be lost on its way to the
        child's own workers (seen with Granian, whose main process then waits on a worker that
        never heard of it), so every `RESEND_SECONDS` the signal goes again to the child and to
        its direct children."""
        deadline = time.monotonic() + timeout
        resent = False
        while True:
            running = [p for p in procs if p.poll() is None]
            if not running or time.monotonic() >= deadline:
                break
            for proc in running:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                if resent:  # lost by the child's own workers while it was starting?
                    for pid in child_pids(proc.pid):
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGTERM)
            resent = True
            resend = min(deadline, time.monotonic() + RESEND_SECONDS)
            for proc in running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.0, resend - time.monotonic()))
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def close(self, timeout: float = 10.0) -> None:
        """Stop every child still running, then kill whatever is left in the group(s)."""
        self.terminate(self._children, timeout)
        for group in self._groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self._groups.clear()


class StopSignals:
    """SIGTERM, SIGINT and SIGHUP set an Event (and name the signal) while the block runs."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else "no signal"
