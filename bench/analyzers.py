"""Wall time of the deterministic analyzers (`revisor.analyzers.run_analyzers`).

    .venv/bin/python -m bench.analyzers [--repeat 3]

Input: this repository's own `src/` (Python, and the web UI's JavaScript), read from disk as a
merge request's head files would be, plus a 300-line slice of it (the size of a typical review).
Each case runs both tools, then each tool alone, best of `--repeat`. Every case also checks
that the run reported no errors, so a fast failure cannot pass for speed.

Writes `bench/results/analyzers.md` and returns the figures for `bench/run.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from revisor.analyzers import run_analyzers

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
SUFFIXES = (".py", ".js")
TOOLS: dict[str, dict[str, str | None]] = {
    "both": {},
    "ruff alone": {"ast-grep": None},
    "ast-grep alone": {"ruff": None},
}


def repository_sources() -> dict[str, str]:
    src = ROOT / "src"
    return {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for p in sorted(src.rglob("*"))
        if p.suffix in SUFFIXES and p.is_file() and not p.name.endswith(".min.js")
    }


def slice_of(sources: Mapping[str, str], lines: int) -> dict[str, str]:
    """Whole files, in path order, until `lines` lines are taken."""
    out: dict[str, str] = {}
    taken = 0
    for path, text in sources.items():
        if taken >= lines:
            break
        out[path] = text
        taken += text.count("\n")
    return out


def measure(sources: Mapping[str, str], repeat: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for label, binaries in TOOLS.items():
        best = float("inf")
        hits = 0
        for _ in range(repeat):
            started = time.perf_counter()
            report = run_analyzers(sources, binaries=binaries)
            best = min(best, time.perf_counter() - started)
            unexpected = [e for e in report.errors if not e.endswith("not installed")]
            if unexpected:
                raise RuntimeError(f"{label}: {unexpected}")
            hits = len(report.hits)
        figures[label] = {"seconds": round(best, 3), "hits": hits}
    return figures


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def run(repeat: int = 3) -> dict[str, Any]:
    everything = repository_sources()
    cases = {"300-line slice of src/": slice_of(everything, 300), "all of src/": everything}
    results: dict[str, Any] = {}
    for name, sources in cases.items():
        lines = sum(t.count("\n") for t in sources.values())
        results[name] = {"files": len(sources), "lines": lines, **measure(sources, repeat)}
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        f"| {name} | {r['files']} | {r['lines']:,} | {r['both']['seconds']:.2f} s "
        f"({r['both']['hits']} hits) | {r['ruff alone']['seconds']:.2f} s | "
        f"{r['ast-grep alone']['seconds']:.2f} s |"
        for name, r in results.items()
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "analyzers.md").write_text(
        "# Deterministic analyzers: wall time of `run_analyzers`\n\n"
        f"`python -m bench.analyzers`, {stamp}, commit `{_commit()}`; best of {repeat}. "
        "Each run writes the files into a private directory, runs ruff and ast-grep (the "
        "project's rule pack) once each over it, parses their JSON and removes the directory.\n\n"
        "| input | files | lines | both tools | ruff alone | ast-grep alone |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    return results


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = run(args.repeat)
    print((RESULTS / "analyzers.md").read_text(encoding="utf-8"))
    return results


if __name__ == "__main__":
    main()
