"""Structured logs: one JSON object per line, with the request id and job id carried along.

`bind(job_id=..., request_id=...)` sets context for the current thread/task, so a review can be
followed from its webhook (`request_id`) through the worker (`job_id`, which stores the
`request_id` of the delivery that created it) to its last posted comment. Log calls must never
carry secrets, diff content or prompt text; messages are built from ids, counts and reasons.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from revisor.config import LogSettings

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "revisor_log_ctx", default=None
)


# Component names: each process kind logs to `<log dir>/<component>.log`.
LAUNCHER = "launcher"  # `revisor up` / `revisor inference`; the engine's own output: sidecar.log


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "component": self.component,
            "logger": record.name,
            "msg": record.getMessage(),
            **(_context.get() or {}),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(component: str, settings: LogSettings, log_dir: Path | None = None) -> None:
    """Route `revisor.*` logs to stderr (and `<log_dir>/<component>.log`) as JSON lines."""
    level = settings.levels.get(component, settings.level).upper()
    root = logging.getLogger("revisor")
    root.handlers.clear()
    root.setLevel(level)
    root.propagate = False
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_dir is not None and log_dir.is_dir():
        handlers.append(logging.FileHandler(log_dir / f"{component}.log", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(
            JsonFormatter(component)
            if settings.format == "json"
            else logging.Formatter(f"%(asctime)s {component} %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    # Libraries stay quiet at the default level: httpx would log URLs, huey task arguments.
    for name in ("httpx", "httpcore", "huey", "urllib3", "gitlab"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
