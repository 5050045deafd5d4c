"""Soak: a few hundred queued merge requests reviewed by the real `revisor worker` against the
strict fake GitLab and a fast fake model. Every job must end `done` with its comment and
summary posted once; the worker's resident memory is sampled throughout and reported.

    .venv/bin/python -m bench.soak [--mrs 300] [--concurrency 2]

`run()` returns the figures as a dict (`make bench`). Bounded: the run gives up after
`--timeout` seconds and reports what was left.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.model import FakeFile
from tests.llm.fake_openai import FakeOpenAI
from tests.worker.conftest import APP_DIFF, GL_TOKEN, MODEL_KEY, finding, write_config

from revisor import config
from revisor.cli.core import init_data_dir
from revisor.context import Context
from revisor.domain import ForgeKind
from revisor.store import jobs, repos, servers
from revisor.text.markers import find_fingerprint, is_summary
from revisor.worker.queue import Queue

PROJECT = "group/app"


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process from /proc (Linux), in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def soak(mrs: int, concurrency: int, timeout: float) -> dict[str, Any]:
    gitlab = FakeGitLab(token=GL_TOKEN)
    gl_url = gitlab.start()
    model = FakeOpenAI(model="m1", api_key=MODEL_KEY)
    model.reply = json.dumps({"findings": [finding(3)]})
    model_url = model.start()
    worker: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="revisor-bench-soak-") as tmp:
        root = Path(tmp)
        try:
            write_config(root, model_url)
            settings = config.load(root / "data", environ={})
            init_data_dir(settings)
            rt = Context(settings)
            servers.allow(rt.db, gl_url, added_by="bench")
            repo = repos.add(
                rt.db,
                rt.keys,
                forge=ForgeKind.GITLAB,
                server=gl_url,
                project=PROJECT,
                token=GL_TOKEN,
                webhook_secret="webhook-secret-for-bench-0123",  # noqa: S106
            )
            queue = Queue(settings)
            for iid in range(1, mrs + 1):
                mr = gitlab.add_merge_request(PROJECT, iid, files=[FakeFile("app.py", APP_DIFF)])
                job_id = jobs.create(
                    rt.db,
                    repo_id=repo.id,
                    mr_number=iid,
                    head_sha=mr.versions[0][2],
                    trigger="open",
                )
                queue.enqueue(job_id)
            env = {**os.environ, "REVISOR_LOG__LEVEL": "warning"}
            started = time.monotonic()
            worker = subprocess.Popen(
                [
                    *(sys.executable, "-m", "revisor", "worker"),
                    *("--data-dir", str(settings.data_dir), "--concurrency", str(concurrency)),
                ],
                env=env,
                stdout=(root / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            samples: list[tuple[float, int, int]] = []  # (seconds, jobs finished, RSS KiB)
            finished = 0
            while time.monotonic() - started < timeout:
                counts = jobs.counts_by_state(rt.db)
                finished = sum(counts[s] for s in jobs.TERMINAL)
                rss = rss_kib(worker.pid)
                if rss is not None and rss > 1024:  # not the moment between fork and exec
                    samples.append((time.monotonic() - started, finished, rss))
                if finished >= mrs or worker.poll() is not None:
                    break
                time.sleep(0.5)
            seconds = time.monotonic() - started
            counts = jobs.counts_by_state(rt.db)
            duplicates = missing = 0
            for iid in range(1, mrs + 1):
                fps = [
                    find_fingerprint(n["body"])
                    for d in gitlab.discussions(PROJECT, iid)
                    for n in d["notes"]
                ]
                summaries = [n for n in gitlab.notes(PROJECT, iid) if is_summary(n["body"])]
                duplicates += len(fps) - len(set(fps)) + max(0, len(summaries) - 1)
                missing += int(not fps or not summaries)
            rt.close()
        finally:
            if worker is not None and worker.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
            gitlab.stop()
            model.stop()
    return _figures(mrs, concurrency, seconds, counts, duplicates, missing, samples)


def _figures(
    mrs: int,
    concurrency: int,
    seconds: float,
    counts: dict[str, int],
    duplicates: int,
    missing: int,
    samples: list[tuple[float, int, int]],
) -> dict[str, Any]:
    rss = [s[2] for s in samples]
    # "Flat": compare the second quarter of the run with the last quarter (the first quarter
    # holds imports and warm-up, which are allocated once).
    q = max(1, len(rss) // 4)
    early = max(rss[q : 2 * q] or rss[:1] or [0])
    late = max(rss[-q:] or [0])
    growth = late - early
    return {
        "mrs": mrs,
        "concurrency": concurrency,
        "seconds": round(seconds, 1),
        "jobs_per_minute": round(counts["done"] / seconds * 60, 1) if seconds else 0.0,
        "states": {k: v for k, v in counts.items() if v},
        "all_done": counts["done"] == mrs,
        "duplicates": duplicates,
        "missing_reviews": missing,
        "rss_start_mib": round(rss[0] / 1024, 1) if rss else None,
        "rss_early_mib": round(early / 1024, 1),
        "rss_end_mib": round(late / 1024, 1),
        "rss_growth_mib": round(growth / 1024, 1),
        "rss_flat": abs(growth) <= max(5 * 1024, early * 0.05),
        "samples": len(rss),
    }


def run(mrs: int = 300, concurrency: int = 2, timeout: float = 900.0) -> dict[str, Any]:
    result = soak(mrs, concurrency, timeout)
    print(
        f"soak: {mrs} queued merge requests, real worker (concurrency {concurrency}), "
        "strict fake GitLab, instant fake model"
    )
    rows = [
        ("finished in", f"{result['seconds']} s ({result['jobs_per_minute']} jobs/min)"),
        ("job states", ", ".join(f"{k} {v}" for k, v in result["states"].items())),
        ("duplicates / missing", f"{result['duplicates']} / {result['missing_reviews']}"),
        (
            "worker RSS MiB",
            f"first {result['rss_start_mib']}, after warm-up {result['rss_early_mib']}, "
            f"end {result['rss_end_mib']} (growth {result['rss_growth_mib']}): "
            + ("flat" if result["rss_flat"] else "GROWING"),
        ),
    ]
    for name, value in rows:
        print(f"  {name:<22} {value}")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mrs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    return run(args.mrs, args.concurrency, args.timeout)


if __name__ == "__main__":
    main()
