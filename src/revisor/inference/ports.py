"""Is a TCP port free to listen on, and if not, who holds it?

`revisor up` and `revisor inference` check their ports before starting anything: a sidecar that
cannot bind its port would otherwise load the model, fail, and leave the launcher waiting for a
health check that never comes. The holder is named from `/proc/net/tcp{,6}` (the socket inode
listening on the port) and `/proc/<pid>/fd` (which process has that inode open); the pid and
command line are shown when this user may read them (secrets in it redacted), else "another
process".
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass
from pathlib import Path

from revisor.errors import ConfigError
from revisor.review.redact import redact_text

PROC = Path("/proc")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
_COMMAND_MAX = 200


class PortBusy(ConfigError):
    """The port a component must listen on is taken; the message names the holder."""


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str  # the command line, "" when unreadable

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def bind_error(host: str, port: int) -> OSError | None:
    """The error binding `host:port` gives (None when it is free), as a server would bind it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return OSError(errno.EADDRNOTAVAIL, f"cannot resolve {host!r}: {exc.strerror}")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As servers do: a port whose last connections are in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc
    return None


def socket_inodes(port: int, proc: Path = PROC) -> set[int]:
    """Inodes of the TCP sockets listening on `port` (any address, IPv4 and IPv6)."""
    listening: set[int] = set()
    other: set[int] = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or int(fields[1].rsplit(":", 1)[1], 16) != port:
                continue
            inode = int(fields[9])
            if inode:
                (listening if fields[3] == _LISTEN else other).add(inode)
    return listening or other


def socket_holders(inodes: set[int], proc: Path = PROC) -> list[Holder]:
    """The processes (that this user may inspect) with one of these sockets open."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holders: list[Holder] = []
    if not wanted:
        return holders
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            with contextlib.suppress(OSError):
                if str(fd.readlink()) in wanted:
                    holders.append(Holder(int(entry.name), _command(entry)))
                    break
    return sorted(holders, key=lambda h: h.pid)


def _command(entry: Path) -> str:
    try:
        raw = (entry / "cmdline").read_bytes()
    except OSError:
        return ""
    text = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    text = redact_text(text)[0]  # a password given on a command line stays out of our logs
    return text if len(text) <= _COMMAND_MAX else text[: _COMMAND_MAX - 3] + "..."


def describe_holder(port: int, proc: Path = PROC) -> str:
    holders = socket_holders(socket_inodes(port, proc), proc)
    return ", ".join(h.describe() for h in holders) if holders else "another process"


def ensure_free(host: str, port: int, *, what: str, setting: str) -> None:
    """Raise PortBusy (naming the port and its holder) unless `host:port` can be listened on."""
    error = bind_error(host, port)
    if error is None:
        return
    if error.errno == errno.EADDRINUSE:
        raise PortBusy(
            f"{what} cannot listen on {host}:{port}: port {port} is already in use by "
            f"{describe_holder(port)}; stop that process or set another port ({setting})"
        )
    raise ConfigError(f"{what} cannot listen on {host}:{port}: {error.strerror} ({setting})")
