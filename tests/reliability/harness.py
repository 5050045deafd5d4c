"""Real processes for the fault matrix: `revisor serve` (Granian) and `revisor worker` on one
data dir, webhooks sent over loopback, and a TCP switch that makes the model sidecar vanish.

Built on `tests.worker` (the `appliance` fixture: data dir, strict fake GitLab, fake model;
`Workers`: start and SIGKILL `revisor worker`). Every wait here is bounded in time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from revisor.store import jobs
from revisor.text.markers import find_fingerprint, is_summary
from tests import webhook_payloads as wp
from tests.worker.conftest import Appliance

WEBHOOK_SECRET = "webhook-secret-for-tests-0123"  # what tests.worker.conftest registers
PROJECT = "group/app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def revisor_cmd(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "revisor", *args, "--data-dir", str(data_dir)]


def cli_json(data_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> Any:
    """Run `revisor <args> --json` and return its parsed output (what an admin's script sees)."""
    out = subprocess.run(
        [*revisor_cmd(data_dir, *args), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout)


class Server:
    """`revisor serve` in its own process group, so a crash can take Granian's workers too."""

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        ca: Path | None = None,  # the server's certificate when it serves HTTPS ([web] tls_cert)
    ):
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.env = dict(env or {})
        self.port = free_port()
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca)) if ca else True
        )
        self.url = f"{'https' if ca else 'http'}://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, workers: int = 1, timeout: float = 60.0) -> None:
        log = (self.log_dir / f"serve-{self.starts}.log").open("wb")
        self.starts += 1
        self.proc = subprocess.Popen(
            [
                *revisor_cmd(self.data_dir, "serve"),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"revisor serve exited with {self.proc.returncode}")
            with suppress(httpx.HTTPError):
                healthz = httpx.get(self.url + "/healthz", timeout=1, verify=self.verify)
                if healthz.status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"revisor serve did not answer /healthz within {timeout}s")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Send `sig` to the server's process group (SIGKILL: a crash, as systemd would do it)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Granian's worker processes share the group; make sure none outlives the test.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None


@dataclass
class Delivery:
    """One webhook sent and what the server answered (None: no answer, connection failed)."""

    key: str
    iid: int
    status: int | None = None
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send_mr_hook(
    client: httpx.Client,
    url: str,
    *,
    iid: int,
    head: str,
    key: str | None = None,
    timeout: float = 15.0,
) -> Delivery:
    """POST a GitLab "open" hook for MR `iid` at `head`; `key` is the event UUID (GitLab keeps
    it when it redelivers), a fresh one by default."""
    key = key or str(uuid.uuid4())
    delivery = Delivery(key, iid)
    body = wp.body_of(wp.gitlab_mr(PROJECT, iid=iid, head=head))
    try:
        r = client.post(
            url + "/hooks/gitlab",
            content=body,
            headers=wp.gitlab_headers(WEBHOOK_SECRET, uuid_=key),
            timeout=timeout,
        )
    except httpx.HTTPError:
        return delivery
    delivery.status = r.status_code
    with suppress(ValueError):
        delivery.body = r.json()
    return delivery


def delivery_rows(app: Appliance) -> dict[str, int | None]:
    """delivery id -> job id, from the database (the key is `gitlab:<id>:sha256:<body hash>`
    for the unsigned ids sent here, see `forges/*/hooks.delivery_key`)."""
    rows = app.rt.db.execute("SELECT key, job_id FROM deliveries").fetchall()
    return {k.removeprefix("gitlab:").partition(":sha256:")[0]: j for k, j in rows}


def assert_no_acknowledged_delivery_lost(app: Appliance, sent: list[Delivery]) -> None:
    rows = delivery_rows(app)
    acked = [d for d in sent if d.acknowledged]
    lost = [d.key for d in acked if d.key not in rows]
    assert not lost, f"{len(lost)} acknowledged deliveries have no row: {lost[:5]}"
    for d in acked:
        if "job_id" in d.body:
            assert rows[d.key] == d.body["job_id"]
            assert jobs.get(app.rt.db, d.body["job_id"]) is not None


def all_jobs(app: Appliance) -> list[jobs.Job]:
    return jobs.list_jobs(app.rt.db, limit=100_000)


def settled(app: Appliance) -> bool:
    """No job is queued or running any more."""
    return all(j.state in jobs.TERMINAL for j in all_jobs(app))


def comment_fingerprints(app: Appliance, iid: int) -> list[str]:
    """Every fingerprint marker in the bot's inline comments on MR `iid`."""
    return [
        fp
        for d in app.gitlab.discussions(PROJECT, iid)
        for note in d["notes"]
        if (fp := find_fingerprint(note["body"])) is not None
    ]


def summaries(app: Appliance, iid: int) -> list[str]:
    return [n["body"] for n in app.gitlab.notes(PROJECT, iid) if is_summary(n["body"])]


def assert_no_duplicate_comment(app: Appliance, iid: int) -> None:
    fps = comment_fingerprints(app, iid)
    assert len(fps) == len(set(fps)), f"duplicate inline comments on !{iid}: {fps}"
    assert len(summaries(app, iid)) <= 1, f"more than one summary on !{iid}"


class Switch:
    """A TCP forwarder in front of a fake server that can be switched off and on again.

    Off: the listening socket is closed and live connections are cut, so the client sees
    "connection refused" (a sidecar that died), then the same port comes back.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for c in conns:
            with suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def iter_lines(path: Path) -> Iterator[str]:
    if path.exists():
        yield from path.read_text(errors="replace").splitlines()


def rewrite_config(
    app: Appliance, *, model_url: str | None = None, model_timeout: float | None = None
) -> None:
    """Change the model endpoint in revisor.toml before the processes start (they read it once)."""
    path = app.settings.data_dir / "revisor.toml"
    text = path.read_text()
    if model_url is not None:
        text = re.sub(r'^url = ".*"$', f'url = "{model_url}/v1"', text, flags=re.M)
    if model_timeout is not None:
        text = re.sub(
            r"^timeout_seconds = .*$", f"timeout_seconds = {model_timeout}", text, flags=re.M
        )
    path.write_text(text)
