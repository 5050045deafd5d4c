"""Analyzer hits fused with the model's findings, and which findings are one problem."""

from __future__ import annotations

import pytest

from revisor.domain import AnalyzerHit, Finding, Severity
from revisor.review.fuse import CLOSE, hit_findings, merge_with_model, same_problem
from revisor.review.kinds import kinds_of
from tests.review.helpers import hunk, modified_file


def _f(line: int, title: str, source: str = "model", rule: str = "") -> Finding:
    return Finding("A.java", "A.java", None, line, Severity.MAJOR, title, "body", source=source,
                   rule=rule)  # fmt: skip


@pytest.mark.parametrize(
    ("title", "kinds"),
    [
        ("SQL Injection in search method", {"injection"}),
        ("An SQL or JPQL statement is built by string concatenation", {"injection"}),
        ("Null dereference in delete method", {"null"}),
        ("A role is read from a request header", {"auth"}),
        ("Consider a clearer name", set()),
        ("Pathological naming", set()),  # whole words only
    ],
)
def test_kinds_of_a_title(title: str, kinds: set[str]) -> None:
    assert kinds_of(title) == kinds


def test_the_model_and_an_analyzer_on_one_injection_a_few_lines_apart_are_one_problem() -> None:
    model = _f(42, "SQL Injection in search method")
    rule = _f(42 + CLOSE, "An SQL or JPQL statement is built by string concatenation",
              source="ast-grep", rule="java-sql-concat")  # fmt: skip
    assert same_problem(model, rule)
    assert not same_problem(model, _f(42 + CLOSE + 1, rule.title))  # farther: two


def test_different_kinds_close_together_stay_two_problems() -> None:
    assert not same_problem(_f(58, "Role read from a header"), _f(62, "Null dereference"))
    assert not same_problem(_f(10, "Odd naming"), _f(12, "Unclear loop"))  # no kind, no overlap
    assert same_problem(_f(10, "Odd naming here"), _f(12, "Odd naming there"))  # similar titles


def test_redaction_findings_and_other_files_are_never_merged() -> None:
    secret = _f(5, "A credential appears in this diff", source="redaction")
    assert not same_problem(secret, _f(5, "Hard-coded secret"))
    other = Finding("B.java", "B.java", None, 5, Severity.MAJOR, "SQL injection", "b")
    assert not same_problem(_f(5, "SQL injection"), other)


def test_hits_on_added_lines_become_candidates_and_twins_name_the_rule() -> None:
    file = modified_file(
        "A.java", [hunk(1, 1, [(" ", "a"), ("+", "b"), ("+", "c"), (" ", "d"), ("+", "e")])]
    )
    hits = [
        AnalyzerHit("ast-grep", "r1", "A.java", 1, 1, Severity.MAJOR, "On context. Ignored."),
        AnalyzerHit("ast-grep", "r2", "A.java", 2, 2, Severity.MINOR, "Weak. Detail."),
        AnalyzerHit("ast-grep", "r3", "A.java", 2, 3, Severity.CRITICAL, "Strong. Detail."),
        AnalyzerHit("ast-grep", "r4", "A.java", 5, 5, Severity.MAJOR, "Alone."),
        AnalyzerHit("ruff", "S1", "Other.java", 2, 2, Severity.MAJOR, "Not reviewed."),
    ]
    candidates = hit_findings(hits, [file])
    assert [(f.new_line, f.rule, f.title) for f in candidates] == [
        (2, "r3", "Strong"),  # the most severe hit on a line wins
        (5, "r4", "Alone"),
    ]
    merged, remaining = merge_with_model([_f(3, "Bad thing")], candidates)
    assert merged[0].rule == "r3"
    assert "Also flagged by ast-grep r3." in merged[0].body
    assert [f.rule for f in remaining] == ["r4"]
