"""Ship each signed checkpoint to syslog as it is made, so that a copy lives off the box.

Someone who can write `audit.db` can delete the records after the last checkpoint, and the
checkpoints too; what they cannot delete is the copy a log collector already received. Each line
is a witness (`revisor audit verify EXPORT --witness FILE` takes it, once saved to a file): the
message after `revisor-audit: ` is the JSON that `revisor audit checkpoint` prints.

Shipping is best effort: the checkpoint is already committed (and signed) when it is shipped; a
failure is logged and counted, and the next checkpoint is shipped again.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from logging.handlers import SysLogHandler
from pathlib import Path

from revisor.audit.checkpoint import Checkpoint
from revisor.audit.witness import witness_line

log = logging.getLogger("revisor.audit.ship")

DEV_LOG = Path("/dev/log")
IDENT = "revisor-audit: "
LOG_AUDIT = 13  # syslog facility 13: "log audit"
SyslogAddress = str | tuple[str, int]
Shipper = Callable[[Checkpoint], None]


def syslog_address(setting: str, dev_log: Path = DEV_LOG) -> SyslogAddress | None:
    """`[audit] syslog`: "auto" (/dev/log when it exists), "off", a socket path, or host:port."""
    value = setting.strip()
    if value.lower() in {"", "off", "none", "false"}:
        return None
    if value.lower() == "auto":
        return str(dev_log) if dev_log.exists() else None
    if value.startswith("/"):
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"[audit] syslog must be auto, off, a socket path or host:port: {value!r}")
    return (host.strip("[]"), int(port))


class _Handler(SysLogHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        raise  # noqa: PLE0704 (called by emit() inside its except block: let the caller see it)

    def mapPriority(self, levelName: str) -> str:
        return "notice"


class SyslogShipper:
    """Sends one line per checkpoint (facility "log audit", severity notice)."""

    def __init__(self, address: SyslogAddress, fingerprint: str) -> None:
        self.address = address
        self.fingerprint = fingerprint

    def __call__(self, cp: Checkpoint) -> None:
        handler = _Handler(
            address=self.address,
            facility=LOG_AUDIT,
            socktype=socket.SOCK_DGRAM,
        )
        handler.ident = IDENT
        handler.append_nul = False
        try:
            line = witness_line(cp, self.fingerprint)
            handler.handle(
                logging.LogRecord("revisor.audit", logging.INFO, __file__, 0, line, None, None)
            )
        finally:
            handler.close()


def shipper_for(setting: str, fingerprint: str) -> Shipper | None:
    address = syslog_address(setting)
    return SyslogShipper(address, fingerprint) if address is not None else None


def ship(shipper: Shipper | None, cp: Checkpoint) -> bool:
    """Ship one checkpoint; a failure is logged and counted, never raised."""
    if shipper is None:
        return False
    try:
        shipper(cp)
    except Exception as exc:
        from revisor import metrics

        metrics.AUDIT_WRITE_FAILURES.labels("checkpoint.syslog").inc()
        log.warning("checkpoint at seq %s not shipped to syslog: %s", cp["seq"], exc)
        return False
    return True
