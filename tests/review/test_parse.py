from __future__ import annotations

import pytest

from revisor.domain import Severity
from revisor.errors import OutputInvalid
from revisor.review.anchor import anchor
from revisor.review.parse import RawFinding, parse_output

from .helpers import hunk, modified_file

GOOD = (
    '{"findings": [{"path": "src/a.py", "line": 12, "side": "new", "severity": "major", '
    '"title": "Possible None", "body": "x may be None", "suggestion": "if x:"}]}'
)
EXPECTED = RawFinding(
    "src/a.py", 12, "new", Severity.MAJOR, "Possible None", "x may be None", "if x:"
)


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        f"```json\n{GOOD}\n```",
        f"```\n{GOOD}\n```\nLet me know if you need more.",
        f"Sure! Here is my review of the {{diff}}:\n\n{GOOD}\n\nHope this helps!",
        GOOD.replace('"if x:"}]}', '"if x:",},],}'),  # trailing commas
        GOOD.replace('"', "'"),  # a Python dict instead of JSON
    ],
)
def test_accepts_good_fenced_prose_and_safely_repaired_output(text: str) -> None:
    outcome = parse_output(text)
    assert outcome.findings == (EXPECTED,)
    assert outcome.dropped_invalid == 0


def test_truncated_output_keeps_complete_findings_only() -> None:
    second = GOOD[len('{"findings": [') : -2]
    text = GOOD[:-2] + ", " + second[:40]  # cut in the middle of the second finding
    outcome = parse_output(text)
    assert outcome.findings == (EXPECTED,)
    assert "truncated" in outcome.repaired


def test_empty_findings_list_is_fine() -> None:
    assert parse_output('{"findings": []}').findings == ()
    assert parse_output('```json\n{"findings": []}\n```').findings == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("I could not find any problems in this code.", "no JSON"),
        ('{"findings": [{"path": "a.py", "line": 3', "not valid findings JSON"),
        ('{"summary": "looks good"}', "no 'findings' list"),
        ("{{{{[[[[", "not valid findings JSON"),
        ("<|im_start|>assistant\n{'findings': [<|im_end|>", "not valid findings JSON"),
    ],
)
def test_rejects_garbage_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(OutputInvalid, match=reason):
        parse_output(text)


def test_fields_are_validated_strictly_and_bad_items_counted() -> None:
    text = """{"findings": [
      {"path": "a.py", "line": 3, "severity": "critical", "title": "ok"},
      {"path": "a.py", "line": "L7", "side": "OLD", "severity": "High", "body": "First. Second."},
      {"line": 3, "severity": "minor", "title": "no path"},
      {"path": "a.py", "line": 0, "severity": "minor", "title": "line zero"},
      {"path": "a.py", "line": true, "severity": "minor", "title": "bool line"},
      {"path": "a.py", "line": 3, "severity": "catastrophic", "title": "unknown severity"},
      {"path": "a.py", "line": 3, "title": "no severity"},
      {"path": "a.py", "line": 3, "severity": "minor"},
      {"path": "a.py", "line": 3, "side": "middle", "severity": "minor", "title": "bad side"},
      "just a string",
      {"path": "./b/a.py", "line": 4.0, "severity": "info", "title": "t", "suggestion": "  "}
    ]}"""
    outcome = parse_output(text)
    assert outcome.dropped_invalid == 8
    assert outcome.findings == (
        RawFinding("a.py", 3, "new", Severity.CRITICAL, "ok", ""),
        RawFinding("a.py", 7, "old", Severity.MAJOR, "First", "First. Second."),
        RawFinding("b/a.py", 4, "new", Severity.INFO, "t", "", None),
    )


def test_small_model_shapes_top_level_list_and_single_object() -> None:
    item = '{"file": "a.py", "line": 2, "severity": "minor", "message": "Unused import"}'
    (one,) = parse_output(f"[{item}]").findings
    assert (one.path, one.title, one.body) == ("a.py", "Unused import", "Unused import")
    assert parse_output(item).findings == (one,)
    assert parse_output('{"comments": [' + item + "]}").findings == (one,)


# --- anchoring ---

FILE = modified_file(
    "src/a.py",
    [
        hunk(
            10,
            10,
            [
                (" ", "def f(x):"),  # old 10 / new 10
                ("-", "    return x"),  # old 11
                ("+", "    y = x.strip()"),  # new 11
                ("+", "    return y"),  # new 12
                (" ", ""),  # old 12 / new 13
            ],
        )
    ],
)


def _raw(line: int, side: str = "new", path: str = "src/a.py") -> RawFinding:
    return RawFinding(path, line, side, Severity.MINOR, "t", "b")


def test_anchor_exact_added_context_and_removed_lines() -> None:
    outcome = anchor([_raw(11), _raw(10), _raw(11, "old")], [FILE])
    assert [(f.old_line, f.new_line) for f in outcome.findings] == [
        (None, 11),
        (10, 10),
        (11, None),
    ]
    assert outcome.line_texts == ("    y = x.strip()", "def f(x):", "    return x")
    assert (outcome.moved, outcome.dropped) == (0, 0)


def test_anchor_moves_near_lines_to_the_nearest_changed_line() -> None:
    outcome = anchor([_raw(15), _raw(8), _raw(13, "old")], [FILE])
    assert [(f.old_line, f.new_line) for f in outcome.findings] == [
        (None, 12),
        (None, 11),
        (11, None),
    ]
    assert (outcome.moved, outcome.dropped) == (3, 0)


def test_anchor_drops_far_lines_and_unknown_paths() -> None:
    outcome = anchor([_raw(40), _raw(11, path="other.py"), _raw(2, "old")], [FILE])
    assert outcome.findings == ()
    assert outcome.dropped == 3


def test_anchor_accepts_a_path_without_its_directories_when_unambiguous() -> None:
    outcome = anchor([_raw(12, path="a.py")], [FILE])
    assert [(f.path, f.new_line) for f in outcome.findings] == [("src/a.py", 12)]


def test_suggestion_is_dropped_on_a_removed_line() -> None:
    raw = RawFinding("src/a.py", 11, "old", Severity.MINOR, "t", "b", "return x or ''")
    (finding,) = anchor([raw], [FILE]).findings
    assert finding.suggestion is None
