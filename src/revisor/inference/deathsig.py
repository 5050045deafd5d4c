"""Run a command that dies with the process that started it (Linux `PR_SET_PDEATHSIG`).

    python -I -S deathsig.py SIGNUM PARENT_PID COMMAND [ARG...]

`supervise.ProcessGroup.spawn` starts every child of `revisor up` and `revisor inference`
through this file. It asks the kernel to send SIGNUM to this process when the thread that forked
it exits, makes sure that parent is still the one it was started by (else it died before the
setting took, and the command must not run at all), and execs COMMAND in its place: same pid,
and the death signal survives `execve`. `preexec_fn` could do the same without the extra exec,
but it is not safe in a process that has threads, and `revisor up` may.

It is run by path with `-I -S` (no site-packages, no PYTHON* variables), so it imports the
standard library only and must stay that way.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_PARENT_GONE = 125
EXIT_PRCTL_FAILED = 126
EXIT_NOT_FOUND = 127


def main(argv: list[str]) -> int:
    if len(argv) < 3 or not argv[0].isdigit() or not argv[1].isdigit():
        print("usage: deathsig.py SIGNUM PARENT_PID COMMAND [ARG...]", file=sys.stderr)
        return 2
    signum, parent = int(argv[0]), int(argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        error = os.strerror(ctypes.get_errno())
        print(f"deathsig: prctl(PR_SET_PDEATHSIG) failed: {error}", file=sys.stderr)
        return EXIT_PRCTL_FAILED
    if os.getppid() != parent:
        return EXIT_PARENT_GONE  # the launcher died before the setting took: run nothing
    try:
        os.execvp(argv[2], argv[2:])  # noqa: S606 - the argv the launcher built, no shell
    except OSError as exc:
        print(f"deathsig: cannot run {argv[2]}: {exc.strerror}", file=sys.stderr)
    return EXIT_NOT_FOUND


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
