"""Engine overhead: everything except model time, for a generated 3,000-line merge request.

Measures diff parsing, filtering, redaction, chunking, prompt rendering, output parsing,
anchoring, fingerprints, policy and rendering of comments and summary, with a fake model that
answers instantly with one finding per chunk. Target (issue 4, item 7a): under 100 ms.

    .venv/bin/python bench/engine_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence

from revisor.config import ReviewSettings
from revisor.domain import ChatMessage, Completion, RouteHints, Usage
from revisor.review.engine import review_files
from revisor.review.policy import build_policy
from revisor.review.render import render_comment
from revisor.review.summary import render_summary
from revisor.text.diff import parse_unified

FILES = 30
HUNKS_PER_FILE = 5
LINES_PER_HUNK = 20  # 30 * 5 * 20 = 3,000 diff lines


def generate_diff() -> str:
    parts: list[str] = []
    for f in range(FILES):
        path = f"src/module_{f}/service.py"
        parts.append(f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n")
        parts.append(f"--- a/{path}\n+++ b/{path}\n")
        for h in range(HUNKS_PER_FILE):
            start = 1 + h * 100
            body = [f" def handler_{h}(request):", "-    value = request.args.get('v')"]
            body += [
                f"+    value_{i} = compute(request, {i}, timeout=30)  # step {i}"
                for i in range(LINES_PER_HUNK - 4)
            ]
            body += ["     return value", " "]
            old = sum(1 for b in body if b[0] in " -")
            new = sum(1 for b in body if b[0] in " +")
            parts.append(f"@@ -{start},{old} +{start},{new} @@ class Service{h}:\n")
            parts.append("\n".join(body) + "\n")
    return "".join(parts)


class InstantModel:
    concurrency = 1

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion:
        user = messages[-1].content
        path = user.split("=== FILE ", 1)[1].split(" ", 1)[0]
        line = int(user.split("\n@@ -", 1)[1].split("+", 1)[1].split(",", 1)[0]) + 2
        text = json.dumps(
            {
                "findings": [
                    {
                        "path": path,
                        "line": line,
                        "side": "new",
                        "severity": "major",
                        "title": "Unchecked <value>",
                        "body": "See [docs](http://x) and `value`.",
                    }
                ]
            }
        )
        return Completion(text, "instant", "fake", Usage(1000, 50, 1, 0))


def run_once(diff: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    files = parse_unified(diff)
    policy = build_policy(ReviewSettings(max_comments=100), 'ignore = ["docs/"]\n')
    result = review_files(
        files,
        mr=None,
        policy=policy,
        model=InstantModel(),
        context_tokens=8192,
        max_output_tokens=1024,
    )
    comments = [render_comment(f) for f in result.findings]
    render_summary(result, policy=policy)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, result.chunks_total, len(comments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    diff = generate_diff()
    lines = sum(1 for line in diff.split("\n") if line[:1] in "+- " and line[:3] not in "+++---")
    run_once(diff)  # warm-up: imports, regex compilation, prompt files
    timings = []
    chunks = comments = 0
    for _ in range(args.runs):
        ms, chunks, comments = run_once(diff)
        timings.append(ms)
    median = statistics.median(timings)
    print(
        f"engine overhead: {median:.1f} ms median over {args.runs} runs "
        f"(min {min(timings):.1f}, max {max(timings):.1f}) for {lines} diff lines, "
        f"{chunks} chunks, {comments} comments; target < 100 ms: "
        f"{'OK' if median < 100 else 'OVER'}"
    )


if __name__ == "__main__":
    main()
