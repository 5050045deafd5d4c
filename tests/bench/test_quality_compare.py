"""Comparing two quality runs: totals with deltas and, per MR, which defects changed hands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.quality.compare import compare, main


def run(found: int, findings: int, missed: list[str], wall: float) -> dict[str, Any]:
    totals = {"defects": 4, "found": found, "findings": findings, "duplicates": 0,
              "false_positives": findings - found, "explained": 0}  # fmt: skip
    row = {"tool": "Revisor", "mr": "py-x", "found": found, "findings": findings,
           "missed": missed, "wall_s": wall, "prompt_tokens": 1000 + found}  # fmt: skip
    return {"model": "m.gguf", "date": "d", "totals": {"Revisor": totals}, "rows": [row]}


def test_totals_and_per_mr_changes() -> None:
    before = run(1, 4, ["a", "b", "c"], 10.0)
    after = run(2, 2, ["a", "c", "d"], 12.5)
    text = compare(before, after)
    # recall 0.25 -> 0.50, precision 0.25 -> 1.00
    assert "| Revisor | 1/4 | 2/4 | 0.25 | 0.50 | +0.25 | 0.25 | 1.00 | +0.75 |" in text
    assert "| Revisor | py-x | 1 / 4 | 2 / 2 | b | d | 2.50 | 1 |" in text


def test_main_reads_the_json_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run(0, 0, ["a", "b", "c", "d"], 1.0)))
    b.write_text(json.dumps(run(0, 3, ["a", "b", "c", "d"], 1.0)))
    text = main([str(a), str(b)])
    assert "| n/a | 0.00 | n/a |" in text  # precision undefined before, 0 after
