"""Webhook intake under load: signed GitLab deliveries to `revisor serve` over loopback.

Starts `revisor serve` (Granian) on a fresh data dir with one registered GitLab repository that
uses signed webhooks, then sends to its own hook URL (`/hooks/gitlab/<hook_key>`; the legacy
`/hooks/gitlab` with `--legacy-url`) a bounded burst of deliveries from several client processes
(multiprocessing + httpx, each process with a few threads). Every delivery is a distinct merge
request, so every one creates a job. Reports deliveries/s, p50/p99 latency, and checks in the
database that every acknowledged (2xx) delivery has its delivery row and its job row.

Target (issue 2, item 7) on a 2-core machine: >= 500 deliveries/s, p99 < 50 ms, zero lost.

The Python clients share the two cores with the server, so the same deliveries are also sent by
`wrk` (Debian package; C, one thread) with a Lua script (`intake_wrk.lua`) that records the job
id of every acknowledged delivery, each then checked in the database. Skipped if wrk is missing.

    .venv/bin/python -m bench.intake [--deliveries 5000] [--clients 4] [--threads 4]
                                     [--workers 1 2] [--with-worker] [--legacy-url]

`run()` returns the figures as a dict (`make bench`); `burst()` is what the reliability test
calls with a small count.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.intake_server import (
    HEAD,
    PROJECT,
    SIGNING_SECRET,
    Server,
    hook_path,
    prepare_data_dir,
)


def _payload(iid: int) -> bytes:
    attrs = {
        "id": 100_000 + iid,
        "iid": iid,
        "action": "open",
        "state": "opened",
        "draft": False,
        "title": f"Change {iid}",
        "source_branch": f"feature-{iid}",
        "target_branch": "main",
        "last_commit": {"id": HEAD, "message": "change"},
    }
    payload = {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 1, "username": "bench"},
        "project": {"id": 1, "path_with_namespace": PROJECT, "default_branch": "main"},
        "object_attributes": attrs,
        "labels": [],
        "changes": {},
    }
    return json.dumps(payload).encode()


def _signed_headers(body: bytes) -> tuple[str, dict[str, str]]:
    from revisor.forges.gitlab.hooks import sign as sign_gitlab

    webhook_id = str(uuid.uuid4())
    ts = str(int(time.time()))
    return webhook_id, {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Merge Request Hook",
        "Idempotency-Key": webhook_id,
        "webhook-id": webhook_id,
        "webhook-timestamp": ts,
        "webhook-signature": sign_gitlab(SIGNING_SECRET, webhook_id, ts, body),
    }


# delivery key, status (0: no answer), latency in seconds, job id, wall-clock time of the answer
Result = tuple[str, int, float, int | None, float]


def _client(args: tuple[str, list[int], int, float]) -> list[Result]:
    """One client process: `threads` threads share its slice of merge-request numbers; `url`
    is the whole hook URL."""
    url, iids, threads, start_at = args
    prepared = [(iid, _payload(iid)) for iid in iids]
    results: list[Result] = []
    lock = threading.Lock()
    position = 0

    def work() -> None:
        nonlocal position
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    if position >= len(prepared):
                        return
                    _iid, body = prepared[position]
                    position += 1
                key, headers = _signed_headers(body)
                t0 = time.perf_counter()
                try:
                    r = client.post(url, content=body, headers=headers)
                    status = r.status_code
                    job_id = r.json().get("job_id") if status < 300 else None
                except httpx.HTTPError:
                    status, job_id = 0, None
                elapsed = time.perf_counter() - t0
                with lock:
                    results.append((key, status, elapsed, job_id, time.time()))

    while time.time() < start_at:  # all processes start together
        time.sleep(0.001)
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


# --- one measured burst --------------------------------------------------------------------------


@dataclass(frozen=True)
class BurstResult:
    deliveries: int
    acknowledged: int
    errors: int
    lost: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def count_lost(data_dir: Path, results: list[Result]) -> int:
    """Acknowledged deliveries without their delivery row, or whose job row is missing."""
    conn = sqlite3.connect(data_dir / "revisor.db")
    try:
        deliveries = dict(conn.execute("SELECT key, job_id FROM deliveries").fetchall())
        job_ids = {row[0] for row in conn.execute("SELECT id FROM jobs").fetchall()}
    finally:
        conn.close()
    lost = 0
    for key, status, _, job_id, _ in results:
        if not 200 <= status < 300:
            continue
        stored = deliveries.get(f"gitlab:{key}", -1)
        if stored == -1 or stored != job_id or job_id not in job_ids:
            lost += 1
    return lost


def burst(
    url: str,
    data_dir: Path,
    *,
    deliveries: int,
    clients: int,
    threads: int,
    legacy_url: bool = False,
) -> BurstResult:
    """Send `deliveries` signed deliveries from `clients` processes and check them in the DB."""
    url += hook_path(data_dir, legacy=legacy_url)
    iids = list(range(1, deliveries + 1))
    slices = [iids[i::clients] for i in range(clients)]
    ctx = multiprocessing.get_context("spawn")  # no forked copy of the parent's state
    with ctx.Pool(clients) as pool:
        start_at = time.time() + 1.5  # time for the spawned interpreters to import
        pending = pool.map_async(_client, [(url, s, threads, start_at) for s in slices])
        results = [r for part in pending.get(timeout=600) for r in part]
    latencies = sorted(r[2] for r in results)
    ok = [r for r in results if 200 <= r[1] < 300]
    seconds = max(1e-9, max((r[4] for r in results), default=start_at) - start_at)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else latencies * 99
    return BurstResult(
        deliveries=len(results),
        acknowledged=len(ok),
        errors=len(results) - len(ok),
        lost=count_lost(data_dir, results),
        seconds=round(seconds, 3),
        per_second=round(len(ok) / seconds, 1),
        p50_ms=round(quantiles[49] * 1000, 2),
        p99_ms=round(quantiles[98] * 1000, 2),
        max_ms=round(latencies[-1] * 1000, 2) if latencies else 0.0,
    )


# --- the same burst from wrk ------------------------------------------------------------------

WRK_SCRIPT = Path(__file__).with_name("intake_wrk.lua")


def wrk_burst(
    url: str,
    data_dir: Path,
    *,
    connections: int,
    seconds: int,
    deliveries: int = 30000,
    legacy_url: bool = False,
) -> BurstResult | None:
    """The same kind of signed deliveries, sent by wrk (C, one thread) instead of Python clients,
    so the two cores are the server's and not shared with a Python load generator. Every
    acknowledged delivery's job id is written by the Lua script and checked in the database.
    None when wrk (Debian package `wrk`) is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    work = data_dir.parent
    plan, acked_file = work / "wrk-requests.tsv", work / "wrk-acked.txt"
    from revisor.forges.gitlab.hooks import sign as sign_gitlab

    ts = str(int(time.time()))
    with plan.open("w") as f:
        for iid in range(1, deliveries + 1):
            body, webhook_id = _payload(iid), str(uuid.uuid4())
            signature = sign_gitlab(SIGNING_SECRET, webhook_id, ts, body)
            f.write(f"{webhook_id}\t{ts}\t{signature}\t{body.decode()}\n")
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(WRK_SCRIPT),
         url, "--", str(plan), str(acked_file), hook_path(data_dir, legacy=legacy_url)],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip
    acked = [line.strip() for line in acked_file.read_text().splitlines()]
    conn = sqlite3.connect(data_dir / "revisor.db")
    try:
        stored = {row[0] for row in conn.execute("SELECT job_id FROM deliveries")}
    finally:
        conn.close()
    lost = sum(1 for a in acked if not a.isdigit() or int(a) not in stored)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    per_s = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return BurstResult(
        deliveries=total,
        acknowledged=len(acked),
        errors=total - len(acked),
        lost=lost,
        seconds=float(seconds),
        per_second=round(per_s, 1),
        p50_ms=_wrk_ms(out, "50%"),
        p99_ms=_wrk_ms(out, "99%"),
        max_ms=_wrk_ms(out, "Latency", column=3),
    )


def _wrk_ms(out: str, label: str, column: int = 1) -> float:
    """A latency figure from wrk's report ("99%   15.54ms", or the Max of "Latency ...")."""
    line = next(x for x in out.splitlines() if x.strip().startswith(label))
    value = line.split()[column]
    number = float(re.match(r"[\d.]+", value).group(0))  # type: ignore[union-attr]
    return round(number * {"us": 0.001, "ms": 1.0, "s": 1000.0}[value.lstrip("0123456789.")], 2)


# --- the benchmark -------------------------------------------------------------------------------


def measure(
    *,
    deliveries: int,
    clients: int,
    threads: int,
    workers: int,
    with_worker: bool = False,
    legacy_url: bool = False,
) -> dict[str, Any]:
    """One fresh data dir, one server with `workers` Granian workers, one burst."""
    with tempfile.TemporaryDirectory(prefix="revisor-bench-intake-") as tmp:
        root = Path(tmp)
        data_dir = prepare_data_dir(root)
        server = Server(data_dir, workers, root / "serve.log")
        consumer = None
        try:
            if with_worker:
                # Jobs fail fast (the Git server does not exist): the point is the DB contention
                # of a busy consumer (lease, finish, audit) while the intake commits.
                consumer = subprocess.Popen(
                    [sys.executable, "-m", "revisor", "worker", "--data-dir", str(data_dir)],
                    stdout=(root / "worker.log").open("wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            result = burst(
                server.url,
                data_dir,
                deliveries=deliveries,
                clients=clients,
                threads=threads,
                legacy_url=legacy_url,
            )
        finally:
            server.stop()
            if consumer is not None and consumer.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(consumer.pid, signal.SIGTERM)
                try:
                    consumer.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(consumer.pid, signal.SIGKILL)
    return {"workers": workers, "with_worker": with_worker, **result.as_dict()}


def measure_wrk(
    *, connections: int, seconds: int, legacy_url: bool = False
) -> dict[str, Any] | None:
    """One fresh data dir, one server (one Granian worker), one wrk burst."""
    with tempfile.TemporaryDirectory(prefix="revisor-bench-intake-wrk-") as tmp:
        root = Path(tmp)
        data_dir = prepare_data_dir(root)
        server = Server(data_dir, 1, root / "serve.log")
        try:
            result = wrk_burst(
                server.url,
                data_dir,
                connections=connections,
                seconds=seconds,
                legacy_url=legacy_url,
            )
        finally:
            server.stop()
    if result is None:
        return None
    return {"generator": "wrk", "workers": 1, "connections": connections, **result.as_dict()}


def run(
    deliveries: int = 5000,
    clients: int = 4,
    threads: int = 4,
    workers: tuple[int, ...] = (1, 2),
    with_worker: bool = False,
    wrk_connections: tuple[int, ...] = (8, 16),
    wrk_seconds: int = 10,
    legacy_url: bool = False,
) -> dict[str, Any]:
    rows = [
        measure(
            deliveries=deliveries,
            clients=clients,
            threads=threads,
            workers=w,
            with_worker=with_worker,
            legacy_url=legacy_url,
        )
        for w in workers
    ]
    print(
        f"intake: {deliveries} signed GitLab deliveries, {clients} client processes x "
        f"{threads} threads, loopback, {'legacy' if legacy_url else 'per-repository'} hook URL;"
        " target >= 500/s, p99 < 50 ms, 0 lost"
    )
    print(f"{'workers':>7} {'acked':>6} {'errors':>6} {'lost':>5} {'deliv/s':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")  # fmt: skip
    for r in rows:
        print(
            f"{r['workers']:>7} {r['acknowledged']:>6} {r['errors']:>6} {r['lost']:>5} "
            f"{r['per_second']:>8} {r['p50_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>7}"
        )
    wrk_rows = [
        r
        for c in wrk_connections
        if (r := measure_wrk(connections=c, seconds=wrk_seconds, legacy_url=legacy_url))
    ]
    if wrk_rows:
        print(f"the same, sent by wrk (C, 1 thread) for {wrk_seconds} s, 1 Granian worker:")
        print(f"{'conns':>7} {'acked':>6} {'errors':>6} {'lost':>5} {'deliv/s':>8} "
              f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")  # fmt: skip
        for r in wrk_rows:
            print(
                f"{r['connections']:>7} {r['acknowledged']:>6} {r['errors']:>6} {r['lost']:>5} "
                f"{r['per_second']:>8} {r['p50_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>7}"
            )
    elif wrk_connections:
        print("wrk is not installed (apt-get install wrk): no wrk runs")
    best = max(rows, key=lambda r: r["per_second"])
    return {
        "deliveries": deliveries,
        "legacy_url": legacy_url,
        "clients": clients,
        "threads": threads,
        "runs": rows,
        "best_per_second": best["per_second"],
        "best_p99_ms": best["p99_ms"],
        "lost": sum(r["lost"] for r in rows + wrk_rows),
        "wrk_runs": wrk_rows,
        "meets_target": any(
            r["per_second"] >= 500 and r["p99_ms"] < 50 and r["lost"] == 0 for r in rows + wrk_rows
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per client process")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Granian workers")
    parser.add_argument("--with-worker", action="store_true", help="run `revisor worker` too")
    parser.add_argument(
        "--wrk-connections", type=int, nargs="*", default=[8, 16], help="wrk runs (none: skip)"
    )
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument(
        "--legacy-url", action="store_true", help="post to /hooks/gitlab, not the repository's URL"
    )
    args = parser.parse_args(argv)
    return run(
        deliveries=args.deliveries,
        clients=args.clients,
        threads=args.threads,
        workers=tuple(args.workers),
        with_worker=args.with_worker,
        wrk_connections=tuple(args.wrk_connections),
        wrk_seconds=args.wrk_seconds,
        legacy_url=args.legacy_url,
    )


if __name__ == "__main__":
    main()
