"""Scale: how Revisor's own cost grows with merge-request size and with the number of queued
merge requests, and where that time goes.

The model is replaced by an instant OpenAI-compatible fake (one finding per chunk, on a line of
that chunk), so what is measured is everything Revisor itself does: webhook intake, job store,
fetching the MR from the strict fake GitLab over HTTP, planning, redaction, chunking, prompts,
parsing, anchoring, dedup, posting comments, the summary, statuses, audit and usage rows. The
model's own time is measured with the real sidecar in `bench/e2e.py`; docs/scaling.md combines
the two.

- MR size: four sizes, from 150 to 6,000 changed lines (files and lines per file both grow);
- queue depth: 1, 8 and 32 MRs enqueued at once, drained by the worker's thread count;
- profile: pyinstrument over the largest review, self time grouped by where it is spent.

    .venv/bin/python -m bench.scale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.server import Request, Response, json_response
from tests.llm.fake_openai import FakeOpenAI

from bench._common import (
    GL_TOKEN,
    BenchAppliance,
    changed_lines,
    generate_files,
    gitlab_webhook,
)

PROJECT = "group/app"
MODEL_KEY = "sk-bench-scale-key-0123456789"
SIZES = ((3, 50), (10, 100), (30, 100), (60, 100))  # (files, changed lines per file)
QUEUE_DEPTHS = (1, 8, 32)
QUEUE_MR = (3, 30)  # the MR every queued job reviews: 3 files x 30 lines
_FILE = re.compile(r"=== FILE (\S+)")
_HUNK = re.compile(r"@@ -\d+,\d+ \+(\d+),\d+ @@")


class InstantModel(FakeOpenAI):
    """Answers at once with one finding on the first added line of the chunk's first file."""

    def _chat(self, request: Request) -> Response:
        body = request.json() or {}
        user = str(body.get("messages", [{}])[-1].get("content", ""))
        path, hunk = _FILE.search(user), _HUNK.search(user)
        findings = []
        if path and hunk:
            findings.append(
                {
                    "path": path.group(1),
                    "line": int(hunk.group(1)) + 2,
                    "side": "new",
                    "severity": "major",
                    "title": "Shell command built from request data",
                    "body": "`request.args` reaches `subprocess.call(..., shell=True)`.",
                }
            )
        if body.get("model") != self.model:
            return super()._chat(request)  # the parent's 404 for an unknown model
        return json_response(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": json.dumps({"findings": findings}),
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": len(user) // 4, "completion_tokens": 60},
            }
        )


class Bench:
    def __init__(self, root: Path) -> None:
        self.gitlab = FakeGitLab(token=GL_TOKEN)
        self.gitlab.start()
        self.model = InstantModel(model="m1", api_key=MODEL_KEY)
        self.model.start()
        self.app = BenchAppliance(
            root, self.gitlab.url, self.model.url, "m1", MODEL_KEY,
            max_output_tokens=1024, concurrency=2, extra_toml="",
        )  # fmt: skip
        from litestar.testing import TestClient

        from revisor.web.app import create_app

        self.client = TestClient(app=create_app(self.app.settings))
        self.client.__enter__()
        self.runner = self.app.runner()
        self._iids = iter(range(1000, 100000))

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.app.close()
        self.gitlab.stop()
        self.model.stop()

    def enqueue(self, files: Any) -> int:
        iid = next(self._iids)
        mr = self.gitlab.add_merge_request(PROJECT, iid, files)
        body, headers = gitlab_webhook(iid, mr.versions[0][2])
        answer = self.client.post("/hooks/gitlab", content=body, headers=headers)
        answer.raise_for_status()
        return int(answer.json()["job_id"])

    def review(self, files: Any) -> tuple[float, dict[str, Any]]:
        started = time.monotonic()
        job_id = self.enqueue(files)
        self.runner(job_id)
        seconds = time.monotonic() - started
        job = self.app.job(job_id)
        if job.state != "done":
            raise RuntimeError(f"job {job_id} ended {job.state}: {job.error}")
        return seconds, job.result or {}


def by_size(bench: Bench) -> list[dict[str, Any]]:
    rows = []
    bench.review(generate_files(2, 10))  # warm-up
    for files_n, lines_per_file in SIZES:
        files = generate_files(files_n, lines_per_file)
        requests_before = len(bench.gitlab.requests)
        seconds, result = bench.review(files)
        lines = changed_lines(files)
        rows.append(
            {
                "files": files_n,
                "changed_lines": lines,
                "chunks": result.get("chunks_total"),
                "comments_posted": result.get("posted_count"),
                "gitlab_requests": len(bench.gitlab.requests) - requests_before,
                "wall_ms": round(seconds * 1000),
                "ms_per_100_lines": round(seconds * 1000 / lines * 100, 1),
            }
        )
        print(f"scale size: {rows[-1]}", flush=True)
    return rows


def _timed(bench: Bench, job_id: int, started: float, finished: list[float]) -> None:
    bench.runner(job_id)
    finished.append(time.monotonic() - started)  # list.append is atomic under the GIL


def by_queue_depth(bench: Bench, workers: int) -> list[dict[str, Any]]:
    rows = []
    for depth in QUEUE_DEPTHS:
        files = generate_files(*QUEUE_MR)
        started = time.monotonic()
        job_ids = [bench.enqueue(files) for _ in range(depth)]
        enqueued = time.monotonic() - started
        finished: list[float] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for job_id in job_ids:
                pool.submit(_timed, bench, job_id, started, finished)
        total = time.monotonic() - started
        states = [bench.app.job(j).state for j in job_ids]
        rows.append(
            {
                "queued_mrs": depth,
                "worker_threads": workers,
                "enqueue_s": round(enqueued, 2),
                "drain_s": round(total, 2),
                "first_review_s": round(min(finished), 2),
                "last_review_s": round(max(finished), 2),
                "s_per_mr": round(total / depth, 3),
                "done": f"{states.count('done')}/{depth}",
            }
        )
        print(f"scale queue: {rows[-1]}", flush=True)
    return rows


def _short(frame: Any) -> str:
    path = str(frame.file_path or "")
    where = path.split("revisor/", 1)[1] if "revisor/" in path else path.rsplit("/", 1)[-1]
    return f"{frame.function} ({where})"


def _find(frame: Any, function: str) -> Any:
    if frame.function == function:
        return frame
    for child in frame.children:
        found = _find(child, function)
        if found is not None:
            return found
    return None


def profile(bench: Bench) -> dict[str, Any]:
    """pyinstrument over the largest review: the pipeline's steps by inclusive time, and
    Revisor's own hottest functions by self time. The full tree goes to
    bench/results/scale-profile.txt (git-ignored)."""
    from pyinstrument import Profiler

    files = generate_files(*SIZES[-1])
    profiler = Profiler(interval=0.001)
    profiler.start()
    seconds, _ = bench.review(files)
    session = profiler.stop()
    root = session.root_frame()
    steps: list[dict[str, Any]] = []
    hot: dict[str, float] = defaultdict(float)

    def self_times(frame: Any, parent: Any) -> None:
        # pyinstrument puts a frame's own time in a synthetic "[self]" child.
        owner = parent if frame.function == "[self]" or not frame.file_path else frame
        own = float(frame.time) - sum(float(c.time) for c in frame.children)
        if owner is not None and "revisor/" in str(owner.file_path or "") and own > 0:
            hot[_short(owner)] += own
        for child in frame.children:
            self_times(child, frame)

    if root is not None:
        self_times(root, None)
        job = _find(root, "review_job")
        total = float(root.time) or 1.0
        if job is not None:
            inclusive: dict[str, float] = defaultdict(float)  # one row per step name
            for child in job.children:
                expand = child.function == "review_files"
                for f in child.children if expand else [child]:
                    inclusive[("review_files > " if expand else "") + _short(f)] += float(f.time)
            for name, t in inclusive.items():
                if t / total >= 0.01:
                    steps.append(
                        {"step": name, "ms": round(t * 1000), "share": round(t / total, 3)}
                    )
            outside = total - float(job.time)
            steps.append(
                {"step": "outside the pipeline (webhook intake, lease, job rows)",
                 "ms": round(outside * 1000), "share": round(outside / total, 3)}
            )  # fmt: skip
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "scale-profile.txt").write_text(text)
    return {
        "profiled_review": f"{SIZES[-1][0]} files, {changed_lines(files)} changed lines, "
        f"{seconds * 1000:.0f} ms (with the profiler on)",
        "where_the_time_goes": sorted(steps, key=lambda r: -r["ms"]),
        "hottest_revisor_functions": [
            {"function": name, "self_ms": round(t * 1000, 1)}
            for name, t in sorted(hot.items(), key=lambda kv: -kv[1])[:8]
        ],
    }


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b*x: (fixed cost, cost per unit)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (
        sum((x - mx) ** 2 for x in xs) or 1.0
    )
    return my - b * mx, b


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="revisor-bench-scale-") as tmp:
        bench = Bench(Path(tmp))
        try:
            sizes = by_size(bench)
            queue = by_queue_depth(bench, workers=bench.app.settings.worker.concurrency)
            prof = profile(bench)
        finally:
            bench.close()
    fixed_ms, per_line_ms = linear_fit(
        [float(r["changed_lines"]) for r in sizes], [float(r["wall_ms"]) for r in sizes]
    )
    ratios = {
        "MR size: fixed cost per review, ms (linear fit)": round(fixed_ms),
        "MR size: marginal cost, ms per 1,000 changed lines (linear fit)": round(
            per_line_ms * 1000
        ),
        f"queue: seconds per MR with {QUEUE_DEPTHS[-1]} queued / with 1 (1.0 = no slowdown)": round(
            queue[-1]["s_per_mr"] / queue[0]["s_per_mr"], 2
        ),
    }
    return {
        "model": "instant fake (Revisor's own cost only)",
        "by_mr_size": sizes,
        "by_queue_depth": queue,
        **prof,
        "ratios": ratios,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    result = run()
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
