"""`make bench`: run every benchmark module in `bench/` and write one report.

    .venv/bin/python -m bench.run [--only e2e,peer] [--skip soak]

Each module is optional (a missing one is reported as such) and runs inside its own try/except,
so one failure never hides the other figures. A module offers either `run() -> dict` (preferred:
no argument parsing) or `main() -> dict`; if it returns nothing, what it printed is kept.

The report goes to `bench/results/latest.md` (committed: the figures of record) and
`bench/results/latest.json` (git-ignored: for tools), with the machine, date and git commit,
because performance claims are only meaningful as ratios measured in one run on one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import io
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

# Order matters a little: the cheap in-process ones first, the ones that start the sidecar after.
MODULES = (
    "engine_overhead",
    "pathological",
    "analyzers",
    "inert",
    "intake",
    "soak",
    "sidecar",
    "structured",
    "e2e",
    "incremental",
    "scale",
    "peer",
    "fuzz",
)


# --- running ----------------------------------------------------------------------------------


def run_module(name: str) -> dict[str, Any]:
    """Import and run one module; never raises. Returns status, seconds, result or error."""
    started = time.monotonic()
    if not (BENCH_DIR / f"{name}.py").exists():
        return {"status": "missing", "seconds": 0.0}
    out = io.StringIO()
    try:
        module = importlib.import_module(f"bench.{name}")
        entry: Callable[[], Any] | None = getattr(module, "run", None)
        argv = sys.argv
        try:
            sys.argv = [name]  # a module's argparse must not see our options
            with contextlib.redirect_stdout(_Tee(out)):
                result = entry() if entry is not None else module.main()
        finally:
            sys.argv = argv
        if not isinstance(result, dict):
            result = {"output": out.getvalue().strip()}
        return {"status": "ok", "seconds": round(time.monotonic() - started, 1), "result": result}
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {
            "status": "error",
            "seconds": round(time.monotonic() - started, 1),
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=6),
            "output": out.getvalue()[-2000:],
        }


class _Tee(io.TextIOBase):
    """Print through to the terminal (progress) and keep a copy (for modules returning None)."""

    def __init__(self, copy: io.StringIO) -> None:
        self.copy = copy
        self.terminal = sys.stdout

    def write(self, s: str) -> int:
        self.copy.write(s)
        self.terminal.write(s)
        return len(s)

    def flush(self) -> None:
        self.terminal.flush()


# --- context ----------------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_gib = round(int(first.split()[1]) / 1024 / 1024, 1)
    versions: dict[str, str] = {}
    for package in ("llama_cpp", "litellm"):
        with contextlib.suppress(Exception):
            versions[package] = str(importlib.import_module(package).__version__)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }


def _load() -> float | None:
    """1-minute load average: on a shared machine, other work slows the model down."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_info() -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_sha": _git("rev-parse", "--short=12", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


# --- ratios -----------------------------------------------------------------------------------


def _num(d: dict[str, Any], *path: str) -> float | None:
    cur: Any = d
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return float(cur) if isinstance(cur, int | float) and not isinstance(cur, bool) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def key_ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The claims worth quoting, as ratios of figures measured in this run.

    A module may also return its own `ratios` dict; those are merged in, prefixed by module.
    """
    r = {name: v.get("result", {}) for name, v in results.items() if v.get("status") == "ok"}
    out: dict[str, Any] = {}
    sc = r.get("sidecar", {})
    out["sidecar: json_object / unconstrained tokens/s"] = _ratio(
        _num(sc, "json_object_tokens_per_s"), _num(sc, "plain_tokens_per_s")
    )
    out["sidecar: json_schema / unconstrained tokens/s"] = _ratio(
        _num(sc, "json_schema_tokens_per_s"), _num(sc, "plain_tokens_per_s")
    )
    out["sidecar: concurrent / serial chunk wall time"] = _ratio(
        _num(sc, "concurrent_wall_s"), _num(sc, "serial_wall_s")
    )
    for name, res in r.items():
        for key, value in (res.get("ratios") or {}).items():
            out[f"{name}: {key}"] = value
    return {k: v for k, v in out.items() if v is not None}


# --- report -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(", ", ": "))
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return lines


def render_section(value: dict[str, Any]) -> list[str]:
    """Scalars as a two-column table; lists of dicts as tables; dicts as sub-sections."""
    lines: list[str] = []
    scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list) and k != "output"}
    if scalars:
        lines += [*_table([{"figure": k, "value": v} for k, v in scalars.items()]), ""]
    for key, sub in value.items():
        if isinstance(sub, list) and sub and all(isinstance(x, dict) for x in sub):
            lines += [f"**{key}**", "", *_table(sub), ""]
        elif isinstance(sub, list):
            lines += [f"**{key}**", "", *([f"- {_cell(x)}" for x in sub] or ["none"]), ""]
        elif isinstance(sub, dict) and key != "ratios":
            lines += [
                f"**{key}**",
                "",
                *_table([{"figure": k, "value": v} for k, v in sub.items()]),
            ]
            lines.append("")
    if "output" in value:
        lines += ["```", str(value["output"]).strip(), "```", ""]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    run, machine = report["run"], report["machine"]
    lines = [
        "# Revisor benchmarks: latest run",
        "",
        f"Generated by `make bench` (`python -m bench.run`) on {run['date']}, commit "
        f"`{run['git_sha']}`{' (with uncommitted changes)' if run['git_dirty'] else ''}. "
        "What each figure means: [docs/benchmarks.md](../../docs/benchmarks.md).",
        "",
        "## Machine",
        "",
        *_table([{"figure": k, "value": v} for k, v in machine.items()]),
        "",
        "## Key ratios (same run, same machine)",
        "",
    ]
    ratios = report["ratios"]
    lines += _table([{"ratio": k, "value": v} for k, v in ratios.items()]) if ratios else ["none"]
    lines += ["", "## Modules", ""]
    lines += _table(
        [
            {"module": n, "status": v["status"], "seconds": v.get("seconds", 0)}
            for n, v in report["modules"].items()
        ]
    )
    for name, value in report["modules"].items():
        lines += ["", f"## {name}", ""]
        if value["status"] == "ok":
            lines += render_section(value["result"])
        elif value["status"] == "missing":
            lines.append(f"`bench/{name}.py` does not exist (yet).")
        elif value["status"] == "skipped":
            lines.append("skipped on the command line.")
        else:
            lines += [f"**failed**: `{value['error']}`", "", "```", value["traceback"], "```"]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated modules to run")
    parser.add_argument("--skip", default="", help="comma-separated modules to skip")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    only = {m for m in args.only.split(",") if m}
    skip = {m for m in args.skip.split(",") if m}
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # `tests.fakes` (the strict fakes) for e2e/peer/scale

    started = time.monotonic()
    load_at_start = _load()
    modules: dict[str, dict[str, Any]] = {}
    for name in MODULES:
        if (only and name not in only) or name in skip:
            modules[name] = {"status": "skipped", "seconds": 0.0}
            continue
        print(f"\n=== bench: {name} ===", flush=True)
        modules[name] = run_module(name)
        status = modules[name]["status"]
        print(f"=== bench: {name}: {status} in {modules[name]['seconds']} s ===", flush=True)
        if status == "error":
            print(modules[name]["traceback"], file=sys.stderr)
    report = {
        "run": {**run_info(), "total_seconds": round(time.monotonic() - started, 1)},
        "machine": {
            **machine_info(),
            "load_avg_1m_start": load_at_start,
            "load_avg_1m_end": _load(),
        },
        "ratios": key_ratios(modules),
        "modules": modules,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "latest.md").write_text(render_markdown(report))
    print(f"\nwrote {args.out / 'latest.md'} and latest.json in {report['run']['total_seconds']} s")
    return 1 if any(v["status"] == "error" for v in modules.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
