"""`run_analyzers`: the deterministic analyzers over one revision, each fenced, none blocking.

The files are written once into a private workspace, each tool runs once over it (ruff when
there is Python, ast-grep when there is a language of its pack), and each tool's JSON is
mapped back to repository paths. A missing binary, a timeout, an exit status that means
failure or output that is not the expected JSON becomes one short line in `errors`; the other
tool's hits are still returned. A review is never blocked by an analyzer.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from revisor.analyzers import astgrep, ruff
from revisor.analyzers.process import minimal_env, run_bounded, short_reason
from revisor.analyzers.workspace import (
    ASTGREP_SUFFIXES,
    PYTHON_SUFFIXES,
    Workspace,
    open_workspace,
)
from revisor.domain import AnalyzerHit


@dataclass(frozen=True)
class AnalyzerReport:
    """All hits on the given files (the engine keeps those on added lines), and what failed."""

    hits: tuple[AnalyzerHit, ...]
    errors: tuple[str, ...]


Parser = Callable[[bytes, Workspace], tuple[list[AnalyzerHit], list[str]]]


def find_binary(name: str) -> str | None:
    """The tool installed with Revisor (next to its Python), else the first on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)


def _run_tool(
    name: str,
    argv: list[str],
    parse: Parser,
    ws: Workspace,
    timeout_s: float,
) -> tuple[list[AnalyzerHit], list[str]]:
    outcome = run_bounded(argv, cwd=ws.root, env=minimal_env(ws.home), timeout_s=timeout_s)
    if outcome.failure:
        return [], [f"{name}: {outcome.failure}"]
    if outcome.returncode != 0:
        return [], [f"{name}: exit status {outcome.returncode}: {short_reason(outcome.stderr)}"]
    return parse(outcome.stdout, ws)


def run_analyzers(
    sources: Mapping[str, str],
    *,
    timeout_s: float = 60.0,
    binaries: Mapping[str, str | None] | None = None,
) -> AnalyzerReport:
    """Run ruff and the ast-grep pack over `sources` (repository path -> text at the head).

    Each tool gets `timeout_s`; they run one after the other. `binaries` overrides where
    "ruff" and "ast-grep" are found (None: not installed), for tests and benchmarks."""
    found = dict(binaries or {})
    hits: list[AnalyzerHit] = []
    ws = open_workspace(sources)
    errors = list(ws.errors)
    try:
        present = ws.suffixes()
        plan: list[tuple[str, Callable[[str], list[str]], Parser]] = []
        if present & PYTHON_SUFFIXES:
            plan.append(("ruff", lambda b: ruff.command(b, ws.root), ruff.parse))
        if present & ASTGREP_SUFFIXES or present & PYTHON_SUFFIXES:
            plan.append(("ast-grep", lambda b: astgrep.command(b, ws.root), astgrep.parse))
        for name, build, parse in plan:
            binary = found[name] if name in found else find_binary(name)
            if binary is None:
                errors.append(f"{name}: not installed")
                continue
            tool_hits, tool_errors = _run_tool(name, build(binary), parse, ws, timeout_s)
            hits += tool_hits
            errors += tool_errors
    finally:
        ws.close()
    hits.sort(key=lambda h: (h.path, h.line, h.source, h.rule))
    return AnalyzerReport(hits=tuple(hits), errors=tuple(errors))
