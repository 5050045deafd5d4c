"""The project's own ast-grep rule pack (`rules/`) over the JavaScript, TypeScript, Go, Java
and Python files of a revision.

The pack's `sgconfig.yml` is passed with `--config`, so a repository's own `sgconfig.yml` plays
no part; ignore files are not honoured (`--no-ignore`), so a committed `.ignore` cannot hide a
file. Each rule carries `metadata.severity` (critical, major, minor, info); a rule without it
falls back to ast-grep's own level.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from revisor.analyzers.workspace import Workspace
from revisor.domain import AnalyzerHit, Severity

SOURCE = "ast-grep"
MAX_MESSAGE_CHARS = 400
LEVELS = {
    "error": Severity.MAJOR,
    "warning": Severity.MINOR,
    "info": Severity.INFO,
    "hint": Severity.INFO,
}


def pack_config() -> Path:
    """The rule pack's sgconfig.yml, inside the installed package."""
    return Path(str(resources.files("revisor.analyzers").joinpath("rules", "sgconfig.yml")))


def command(binary: str, root: Path, config: Path | None = None) -> list[str]:
    return [
        binary,
        "scan",
        "--config",
        str(config or pack_config()),
        "--json=stream",
        "--include-metadata",
        "--warning",  # every rule at one level: exit status 0 with hits, non-zero on failure
        "--no-ignore",
        "hidden",
        "--no-ignore",
        "dot",
        "--no-ignore",
        "vcs",
        "--no-ignore",
        "parent",
        "--no-ignore",
        "exclude",
        "--no-ignore",
        "global",
        "--threads",
        "2",
        str(root),
    ]


def _severity(item: dict[str, object]) -> Severity:
    meta = item.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("severity"), str):
        try:
            return Severity.parse(meta["severity"])
        except ValueError:
            pass
    return LEVELS.get(str(item.get("severity", "")), Severity.MINOR)


def _hit(item: object, ws: Workspace) -> AnalyzerHit | None:
    if not isinstance(item, dict):
        raise TypeError("not an object")
    start = int(item["range"]["start"]["line"]) + 1  # ast-grep counts lines from 0
    end = int(item["range"]["end"]["line"]) + 1
    rule = str(item["ruleId"])
    path = ws.repo_path(str(item["file"]))
    if path is None:
        return None
    return AnalyzerHit(
        source=SOURCE,
        rule=rule,
        path=path,
        line=start,
        end_line=max(end, start),
        severity=_severity(item),
        message=" ".join(str(item.get("message", "")).split())[:MAX_MESSAGE_CHARS],
    )


def parse(stdout: bytes, ws: Workspace) -> tuple[list[AnalyzerHit], list[str]]:
    """ast-grep's `--json=stream` output (one JSON object a line) -> hits."""
    hits: list[AnalyzerHit] = []
    unmapped = 0
    for raw in stdout.splitlines():
        if not raw.strip():
            continue
        try:
            hit = _hit(json.loads(raw), ws)
        except (ValueError, UnicodeDecodeError):
            return hits, ["ast-grep: output is not JSON"]
        except (KeyError, TypeError):
            return hits, ["ast-grep: unexpected JSON shape"]
        if hit is None:
            unmapped += 1
        else:
            hits.append(hit)
    errors = [f"ast-grep: {unmapped} hits on paths outside the workspace"] if unmapped else []
    return hits, errors
