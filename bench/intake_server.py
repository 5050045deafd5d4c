"""The server side of `bench/intake.py`: a fresh data dir with one registered GitLab repository
that signs its webhooks, and `revisor serve` (Granian) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx

SIGNING_SECRET = "whsec_YmVuY2gtc2lnbmluZy1zZWNyZXQtMDEyMzQ1Njc4OQ=="  # noqa: S105 (bench only)
PROJECT = "bench/app"
HEAD = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_data_dir(root: Path, server_url: str = "https://gitlab.bench.invalid") -> Path:
    """An initialised data dir with one signed GitLab repository. Returns the data dir."""
    from revisor import config
    from revisor.cli.core import init_data_dir
    from revisor.context import Context
    from revisor.domain import ForgeKind
    from revisor.store import repos

    data = root / "data"
    settings = config.load(data, environ={})
    init_data_dir(settings)
    rt = Context(settings)
    repos.add(
        rt.db,
        rt.keys,
        forge=ForgeKind.GITLAB,
        server=server_url,
        project=PROJECT,
        token="glpat-bench-token-0123456789",  # noqa: S106 (a bench token, never sent anywhere)
        webhook_secret="unused-plain-secret-0123456789",  # noqa: S106
        signing_secret=SIGNING_SECRET,
    )
    rt.close()
    return settings.data_dir


def hook_path(data_dir: Path, *, legacy: bool = False) -> str:
    """The path the bench posts to: the repository's own hook URL, or the legacy one."""
    if legacy:
        return "/hooks/gitlab"
    conn = sqlite3.connect(data_dir / "revisor.db")
    try:
        (key,) = conn.execute("SELECT hook_key FROM repos WHERE project = ?", [PROJECT]).fetchone()
    finally:
        conn.close()
    return f"/hooks/gitlab/{key}"


class Server:
    """`revisor serve` in its own process group on a free loopback port."""

    def __init__(self, data_dir: Path, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "revisor", "serve", "--data-dir", str(data_dir)]
        cmd += ["--port", str(self.port), "--workers", str(workers)]
        self.proc = subprocess.Popen(
            cmd,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"revisor serve exited: {log.read_text()[-2000:]}")
            with suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("revisor serve did not become healthy within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


# --- the client side (runs in child processes) -------------------------------------------------
