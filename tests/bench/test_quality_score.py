"""Scoring posted findings against planted defects: matching by path and line with a tolerance,
one finding per defect, duplicates, and the ratios (micro-averaged, undefined where empty)."""

from __future__ import annotations

import pytest
from bench.quality.corpus import Defect
from bench.quality.score import (
    TOLERANCE,
    Counts,
    Finding,
    findings_from_discussions,
    looks_like_prose,
    match,
    score_mr,
    suggestion_blocks,
    total,
)

SQLI = Defect("sqli", "injection", "app/db.py", 10, 12, "SQL built from input", ("sql",))
LEAK = Defect("leak", "resource-leak", "app/db.py", 20, 20, "file never closed")
OBO = Defect("obo", "off-by-one", "app/calc.py", 5, 5, "one past the end")


def test_a_finding_inside_or_near_the_range_matches_and_farther_does_not() -> None:
    inside = score_mr([SQLI], [Finding("app/db.py", 11)])
    near = score_mr([SQLI], [Finding("app/db.py", 12 + TOLERANCE)])
    far = score_mr([SQLI], [Finding("app/db.py", 12 + TOLERANCE + 1)])
    assert inside.counts.found == near.counts.found == 1
    assert (far.counts.found, far.counts.false_positives, far.missed) == (0, 1, ("sqli",))


def test_same_line_in_another_file_or_on_a_removed_line_is_no_match() -> None:
    s = score_mr([OBO], [Finding("app/db.py", 5), Finding("app/calc.py", None)])
    assert (s.counts.found, s.counts.false_positives) == (0, 2)


def test_one_finding_matches_one_defect_and_the_matching_is_maximal() -> None:
    a = Defect("a", "logic", "f.py", 10, 10, "a")
    b = Defect("b", "logic", "f.py", 12, 12, "b")
    # The first finding is nearest to b but also reaches a; the second reaches only b.
    pairs = match([a, b], [Finding("f.py", 12), Finding("f.py", 14)])
    assert pairs == {0: 0, 1: 1}
    one = score_mr([a, b], [Finding("f.py", 11)])
    assert (one.counts.found, one.missed) == (1, ("b",))


def test_second_finding_on_a_found_defect_is_a_duplicate_and_costs_precision() -> None:
    twice = [Finding("app/db.py", 10, "SQL"), Finding("app/db.py", 12, "SQL again")]
    s = score_mr([SQLI, LEAK], twice)
    c = s.counts
    assert (c.found, c.duplicates, c.false_positives, s.duplicate_findings) == (1, 1, 0, (1,))
    assert c.precision == 0.5
    assert c.recall == 0.5


def test_another_claim_beside_a_found_defect_is_a_false_positive_not_a_duplicate() -> None:
    findings = [Finding("app/db.py", 10, "SQL built"), Finding("app/db.py", 13, "Null deref")]
    s = score_mr([SQLI], findings)
    assert (s.counts.duplicates, s.counts.false_positives) == (0, 1)
    assert s.false_positive_findings == (1,)
    # A defect that lists no keywords: anything beside it once found is a duplicate
    bare = Defect("obo", "off-by-one", "app/calc.py", 5, 5, "one past the end")
    t = score_mr([bare], [Finding("app/calc.py", 5), Finding("app/calc.py", 7, "anything")])
    assert (t.counts.duplicates, t.counts.false_positives) == (1, 0)


def test_repeated_false_positives_on_one_spot_are_duplicates() -> None:
    s = score_mr([], [Finding("x.py", 3), Finding("x.py", 3), Finding("x.py", 4)])
    assert (s.counts.duplicates, s.counts.false_positives) == (1, 2)


def test_ratios_and_their_undefined_cases() -> None:
    assert Counts(defects=4, found=2, findings=4).f1 == pytest.approx(0.5)
    clean_and_silent = Counts()
    assert (clean_and_silent.recall, clean_and_silent.precision, clean_and_silent.f1) == (
        None,
        None,
        None,
    )
    silent = Counts(defects=3)
    assert (silent.recall, silent.precision, silent.f1) == (0.0, None, 0.0)
    noisy_on_clean = Counts(findings=2, false_positives=2)
    assert (noisy_on_clean.recall, noisy_on_clean.precision) == (None, 0.0)


def test_keywords_count_explained_findings_case_insensitively() -> None:
    s = score_mr(
        [SQLI, LEAK],
        [Finding("app/db.py", 10, "Use SQL parameters"), Finding("app/db.py", 20, "hm")],
    )
    assert (s.counts.found, s.counts.explained) == (2, 1)


def test_totals_are_micro_averaged_with_per_kind_recall() -> None:
    first = score_mr([SQLI, LEAK], [Finding("app/db.py", 10), Finding("app/db.py", 40)])
    second = score_mr([OBO, LEAK], [Finding("app/db.py", 20)])
    counts, kinds = total([first, second])
    assert (counts.defects, counts.found, counts.findings, counts.false_positives) == (4, 2, 3, 1)
    assert kinds == {"injection": (1, 1), "off-by-one": (0, 1), "resource-leak": (1, 2)}


def test_findings_are_read_from_positioned_discussions_only() -> None:
    discussions = [
        {"notes": [{"body": "summary"}]},
        {"notes": [{"body": "bug", "position": {"new_path": "a.py", "new_line": 7}}]},
        {"notes": [{"body": "gone", "position": {"old_path": "b.py", "new_line": None}}]},
        {"notes": []},
    ]
    assert findings_from_discussions(discussions) == [
        Finding("a.py", 7, "bug"),
        Finding("b.py", None, "gone"),
    ]


def test_suggestion_blocks_are_read_with_any_fence_and_range() -> None:
    body = (
        "Title\n\n```suggestion:-1+2\nreturn None\n```\ntext\n"
        "````suggestion\nx = 1\n```\ny = 2\n````\n```python\nnot = a suggestion\n```"
    )
    assert suggestion_blocks(body) == ["return None\n", "x = 1\n```\ny = 2\n"]


@pytest.mark.parametrize(
    ("block", "prose"),
    [
        ("Use a parameterised query instead.", True),
        ("return None", False),
        ("x = y.strip()", False),
        ("# Use a parameterised query instead", False),
        ("if user is None:\n    raise PermissionError('not allowed')", False),
        ("cursor.execute(sql, (name,))\nMake sure to close the cursor afterwards", True),
    ],
)
def test_prose_is_told_from_code(block: str, prose: bool) -> None:
    assert looks_like_prose(block) is prose


def test_suggestions_and_prose_suggestions_are_counted_and_summed() -> None:
    code = "Bad.\n\n```suggestion:-0+0\nreturn None\n```"
    prose = "Bad.\n\n```suggestion:-0+0\nReturn nothing from this function here\n```"
    s = score_mr([SQLI], [Finding("app/db.py", 11, code), Finding("app/db.py", 40, prose)])
    assert (s.counts.suggestions, s.counts.prose_suggestions) == (2, 1)
    summed, _ = total([s, s])
    assert (summed.suggestions, summed.prose_suggestions, summed.findings) == (4, 2, 4)


def test_a_finding_that_names_the_defect_wins_it_over_a_nearer_one_that_does_not() -> None:
    leak = Defect("leak", "resource-leak", "R.java", 36, 40, "never closed", ("close", "leak"))
    findings = [Finding("R.java", 35, "SQL injection here"), Finding("R.java", 40, "Never close")]
    s = score_mr([leak], findings)
    assert s.matched == (("leak", 1),)
    assert (s.counts.explained, s.counts.duplicates, s.false_positive_findings) == (1, 0, (0,))
