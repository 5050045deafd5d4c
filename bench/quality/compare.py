"""Two quality runs side by side (a setting with and without): totals and per-MR changes.

    .venv/bin/python -m bench.quality.compare BEFORE.json AFTER.json

Reads the `.json` files `python -m bench.quality` writes beside its report and prints Markdown.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.quality.report import table
from bench.quality.score import Counts

_FIELDS = ("defects", "found", "findings", "duplicates", "false_positives", "explained")


def counts(raw: Mapping[str, Any]) -> Counts:
    return Counts(**{k: int(raw.get(k, 0)) for k in _FIELDS})


def _delta(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "n/a"
    return f"{after - before:+.2f}"


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    lines = [
        f"# Quality: {before.get('model')} ({before.get('date')}) vs "
        f"{after.get('model')} ({after.get('date')})",
        "",
    ]
    body = []
    for tool in sorted(set(before.get("totals", {})) & set(after.get("totals", {}))):
        b, a = counts(before["totals"][tool]), counts(after["totals"][tool])
        body.append(
            [tool, f"{b.found}/{b.defects}", f"{a.found}/{a.defects}",
             b.recall, a.recall, _delta(b.recall, a.recall),
             b.precision, a.precision, _delta(b.precision, a.precision),
             b.f1, a.f1, _delta(b.f1, a.f1), b.duplicates, a.duplicates]
        )  # fmt: skip
    header = ["tool", "found before", "found after", "recall before", "recall after", "delta",
              "precision before", "precision after", "delta", "F1 before", "F1 after", "delta",
              "dup before", "dup after"]  # fmt: skip
    lines += [*table(header, body), "", "## Per merge request (found / findings)", ""]
    old = {(r["tool"], r["mr"]): r for r in before.get("rows", [])}
    rows = []
    for r in after.get("rows", []):
        o = old.get((r["tool"], r["mr"]))
        if o is None:
            continue
        newly = sorted(set(o["missed"]) - set(r["missed"]))
        lost = sorted(set(r["missed"]) - set(o["missed"]))
        rows.append(
            [r["tool"], r["mr"],
             f"{o['found']} / {o['findings']}", f"{r['found']} / {r['findings']}",
             ", ".join(newly) or "-", ", ".join(lost) or "-",
             round(r["wall_s"] - o["wall_s"], 1), r["prompt_tokens"] - o["prompt_tokens"]]
        )  # fmt: skip
    header = ["tool", "MR", "before", "after", "now found", "now missed", "wall s delta",
              "prompt tok delta"]  # fmt: skip
    lines += table(header, rows)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> str:
    if len(argv) != 2:
        raise SystemExit("usage: python -m bench.quality.compare BEFORE.json AFTER.json")
    before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in argv)
    text = compare(before, after)
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])
