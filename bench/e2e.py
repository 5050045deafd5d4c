"""End to end: from the webhook to the posted review, with the REAL llama.cpp sidecar.

For a small, a medium and a large merge request on the strict fake GitLab: the webhook goes
through the real web app (Litestar, in process), which verifies it and persists and enqueues the
job; the worker's `Runner` then runs that job in process (what the Huey consumer does), talking
HTTP to the fake GitLab and, through the recording proxy, to the sidecar. The clock runs from
the webhook POST to the final commit status.

Reported per MR: changed lines, model calls (chunks), prompt/completion tokens from the sidecar's
`usage`, prompt tokens per changed line, wall time, time inside the model, everything else,
inline comments posted and positions the forge rejected.

    .venv/bin/python -m bench.e2e [--sizes small,medium,large]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fakes.fake_gitlab import FakeGitLab

from bench._common import (
    GL_TOKEN,
    OUTPUT_CAP,
    SIZES,
    BenchAppliance,
    RecordingProxy,
    changed_lines,
    generate_files,
    gitlab_webhook,
    start_sidecar,
)

PROJECT = "group/app"


def review_one(
    iid: int, files: Any, gitlab: FakeGitLab, proxy: RecordingProxy, app: BenchAppliance
) -> dict[str, Any]:
    from litestar.testing import TestClient

    from revisor.web.app import create_app

    mr = gitlab.add_merge_request(PROJECT, iid, files)
    label = f"e2e:{iid}"
    proxy.label = label
    rejected_before = len(gitlab.rejected_positions)
    with TestClient(app=create_app(app.settings)) as client:
        body, headers = gitlab_webhook(iid, mr.versions[0][2])
        started = time.monotonic()
        answer = client.post("/hooks/gitlab", content=body, headers=headers)
        answered_ms = (time.monotonic() - started) * 1000
        answer.raise_for_status()
        job_id = int(answer.json()["job_id"])
        app.runner()(job_id)
        wall = time.monotonic() - started
    job = app.job(job_id)
    tokens = proxy.totals(label)
    lines = changed_lines(files)
    result = job.result or {}
    statuses = [s["state"] for s in gitlab.commit_statuses(mr.versions[0][2])]
    inline = sum(1 for d in gitlab.discussions(PROJECT, iid) if d["notes"][0].get("position"))
    return {
        "files": len(files),
        "changed_lines": lines,
        "chunks": result.get("chunks_total", tokens["model_calls"]),
        "prompt_tokens": tokens["prompt_tokens"],
        "completion_tokens": tokens["completion_tokens"],
        "prompt_tokens_per_changed_line": round(tokens["prompt_tokens"] / max(lines, 1), 1),
        "webhook_answer_ms": round(answered_ms, 1),
        "wall_s": round(wall, 1),
        "model_s": tokens["model_seconds"],
        "other_s": round(wall - tokens["model_seconds"], 2),
        "cut_at_cap": tokens["cut_at_cap"],
        "findings": len(result.get("findings", [])),
        "inline_comments": inline,
        "rejected_positions": len(gitlab.rejected_positions) - rejected_before,
        "final_status": statuses[-1] if statuses else "none",
        "job": job.state + (" (partial)" if result.get("partial") else ""),
    }


def run(sizes: tuple[str, ...] = ("small", "medium", "large")) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    gitlab = FakeGitLab(token=GL_TOKEN)
    gitlab.start()
    try:
        with start_sidecar() as sidecar, tempfile.TemporaryDirectory() as tmp:
            proxy = RecordingProxy(sidecar.base_url)
            proxy.start()
            app = BenchAppliance(
                Path(tmp), gitlab.url, proxy.url, sidecar.model_id, sidecar.api_key
            )
            try:
                # Warm-up (model pages, imports) on a one-line MR, not counted.
                review_one(1, generate_files(1, 2), gitlab, proxy, app)
                for n, size in enumerate(s for s in SIZES if s.name in sizes):
                    files = generate_files(size.files, size.lines_per_file)
                    row = review_one(10 + n, files, gitlab, proxy, app)
                    rows.append({"mr": size.name, **row})
                    print(f"e2e {size.name}: {row}", flush=True)
            finally:
                app.close()
                proxy.stop()
            model = sidecar.model_id
    finally:
        gitlab.stop()
    result: dict[str, Any] = {
        "model": model,
        "max_output_tokens": OUTPUT_CAP,
        "structured_output": "json_object",
        "endpoint_concurrency": 1,
        "reviews": rows,
    }
    by = {r["mr"]: r for r in rows}
    ratios: dict[str, float] = {}
    if "small" in by and "large" in by and by["small"]["wall_s"]:
        ratios["large / small MR wall time"] = round(
            by["large"]["wall_s"] / by["small"]["wall_s"], 2
        )
        ratios["large / small MR changed lines"] = round(
            by["large"]["changed_lines"] / by["small"]["changed_lines"], 2
        )
    for r in rows:
        if r["wall_s"]:
            ratios[f"{r['mr']} MR: share of wall time in the model"] = round(
                r["model_s"] / r["wall_s"], 3
            )
    result["ratios"] = ratios
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large")
    args = parser.parse_args(argv)
    result = run(tuple(args.sizes.split(",")))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
