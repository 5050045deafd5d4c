"""bench/structured.py: how its figures become the per-engine choice, and its report.

The figures themselves are measured by `make bench`; here only the rule and the report layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import structured


def figures(rate: float, refused: int, runs: int = 4) -> dict[str, float | int]:
    return {"tokens_per_s": rate, "seconds_per_request": 4.0, "runs": runs, "not_json": refused,
            "parse_refused": refused, "cut_at_max_tokens": 0, "findings": 3}  # fmt: skip


@pytest.mark.parametrize(
    ("obj", "schema", "chosen"),
    [
        (figures(20.0, 2), figures(20.0, 0), "json_schema"),  # as fast, parses more often
        (figures(20.0, 0), figures(20.0, 0), "json_schema"),  # a tie goes to the schema
        (figures(20.0, 0), figures(20.0, 1), "json_object"),  # parses less often
        (figures(30.0, 2), figures(20.0, 0), "json_object"),  # grammar too slow (< 0.7x)
        (figures(30.0, 2), figures(21.0, 0), "json_schema"),  # exactly 0.7x is fast enough
    ],
)
def test_the_choice_follows_speed_and_parse_failures(
    obj: dict[str, float], schema: dict[str, float], chosen: str
) -> None:
    assert structured.recommend({"json_object": obj, "json_schema": schema}) == chosen


def test_the_report_has_a_row_per_engine_and_mode_and_names_disagreements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(structured, "RESULTS", tmp_path)
    monkeypatch.setattr(structured, "REPORT", tmp_path / "structured-output.md")
    engine = {"start_up_s": 2.0, "json_object": figures(20.0, 2),
              "json_schema": figures(20.0, 0), "recommended": "json_schema",
              "code_default": "json_object", "agrees": False}  # fmt: skip
    structured.write_report(
        {"max_tokens": 256, "runs": 4, "llama.cpp": engine, "vllm": {"error": "VllmMissing: x"}}
    )
    text = (tmp_path / "structured-output.md").read_text()
    assert "| llama.cpp | json_object | 20.0 | 4.0 | 2/4 | 2/4 | 0/4 | 3 |" in text
    assert "| llama.cpp | json_schema | 20.0 | 4.0 | 0/4 | 0/4 | 0/4 | 3 |" in text
    assert "| vllm | - | not measured: VllmMissing: x |" in text
    assert "llama.cpp: json_schema (code default json_object, DISAGREES" in text
