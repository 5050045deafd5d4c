"""One bounded run of an analyzer binary: time, output size, environment and process group.

The tools read untrusted code, so each run is fenced the same way: a fresh session (its own
process group, killed whole on timeout or overflow), a minimal environment with nothing from
ours (no tokens, no proxies, no tool configuration from `RUFF_*` or `XDG_*`), stdin closed, the
working directory set by the caller, and at most `max_output` bytes read from stdout (stderr is
kept to its first 4 KiB for the error message). Nothing here raises for the tool's own failures:
the result says what happened, and the caller turns it into an `errors` entry.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT_BYTES = 16 * 1024 * 1024
STDERR_HEAD_BYTES = 4096
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Outcome:
    """What one run produced. `failure` is a short reason when it did not run to its end."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    failure: str = ""


def minimal_env(home: Path) -> dict[str, str]:
    """The whole environment a tool gets: a PATH, a locale, and an empty home of its own."""
    return {
        "PATH": SAFE_PATH,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "XDG_CACHE_HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "NO_COLOR": "1",
    }


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def run_bounded(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    max_output: int = MAX_OUTPUT_BYTES,
) -> Outcome:
    """Run `argv` to its end within `timeout_s`, reading at most `max_output` bytes of stdout."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return Outcome(None, b"", b"", f"could not start ({exc.strerror or type(exc).__name__})")
    deadline = time.monotonic() + timeout_s
    out = bytearray()
    err = bytearray()
    failure = ""
    if proc.stdout is None or proc.stderr is None:  # pragma: no cover - PIPE above
        _kill_group(proc)
        return Outcome(None, b"", b"", "no pipes")
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                failure = f"timed out after {timeout_s:g} s"
                break
            for key, _ in sel.select(timeout=left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf: bytearray = key.data
                buf += chunk
                if buf is err and len(err) > STDERR_HEAD_BYTES:
                    del err[STDERR_HEAD_BYTES:]  # the first lines say what went wrong
            if len(out) > max_output:
                failure = f"output over {max_output} bytes"
                break
    if failure:
        _kill_group(proc)
    else:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout_s:g} s"
            _kill_group(proc)
    proc.stdout.close()
    proc.stderr.close()
    return Outcome(proc.returncode, bytes(out), bytes(err), failure)


def short_reason(stderr: bytes) -> str:
    """The first non-empty line of a tool's stderr, printable and at most 200 characters."""
    for raw in stderr.decode("utf-8", "replace").splitlines():
        line = "".join(c for c in raw.strip() if c.isprintable())
        if line:
            return line[:200]
    return "no message"
