"""Anchoring by the quoted code line, the number only a hint."""

from __future__ import annotations

import json

from revisor.domain import FileDiff, FileStatus, LineKind, Severity
from revisor.review.anchor import anchor, find_quoted
from revisor.review.parse import RawFinding, parse_output
from revisor.text.diff import parse_hunks

PATCH = """\
@@ -10,6 +10,8 @@ def search(q):
     conn = db()
-    rows = conn.execute("SELECT * FROM t WHERE a = ?", (q,))
+    sql = f"SELECT * FROM t WHERE a = '{q}'"
+    rows = conn.execute(sql)
     out = []
     for row in rows:
+        out.append(dict(row))
         log(row)
     return out
"""
FILE = FileDiff("app.py", "app.py", FileStatus.MODIFIED, tuple(parse_hunks(PATCH)))


def _raw(line: int, code: str = "", path: str = "app.py", side: str = "new") -> RawFinding:
    return RawFinding(path, line, side, Severity.MAJOR, "SQL injection", "body", code=code)


def test_the_quoted_line_wins_over_a_wrong_number() -> None:
    outcome = anchor([_raw(40, code="rows = conn.execute(sql)")], [FILE])
    assert [f.new_line for f in outcome.findings] == [12]
    assert (outcome.by_quote, outcome.moved, outcome.dropped) == (1, 1, 0)


def test_whitespace_and_our_own_rendering_in_a_quote_are_forgiven() -> None:
    rendered = "          11 +     sql   =   f\"SELECT * FROM t WHERE a = '{q}'\""
    line = find_quoted(rendered, FILE)
    assert line is not None
    assert line.new_line == 11


def test_a_near_copy_is_found_by_similarity_and_a_vague_quote_is_not() -> None:
    near = find_quoted("rows = conn.execute(sql_text)", FILE)
    assert near is not None
    assert near.new_line == 12
    assert find_quoted("}", FILE) is None
    assert find_quoted("something else entirely, not in the diff", FILE) is None


def test_equal_quotes_prefer_the_line_nearest_the_hint_then_an_added_line() -> None:
    patch = "@@ -1,2 +1,4 @@\n x = 1\n+x = 1\n y = 2\n+x = 1\n"
    file = FileDiff("a.py", "a.py", FileStatus.MODIFIED, tuple(parse_hunks(patch)))
    first = find_quoted("x = 1", file, hint=0)
    assert first is not None
    assert first.kind is LineKind.ADDED
    assert first.new_line == 2
    near = find_quoted("x = 1", file, hint=4)
    assert near is not None
    assert near.new_line == 4


def test_a_quote_of_a_removed_line_anchors_on_the_old_side() -> None:
    quote = 'rows = conn.execute("SELECT * FROM t WHERE a = ?", (q,))'
    outcome = anchor([_raw(11, code=quote, side="old")], [FILE])
    assert [(f.old_line, f.new_line) for f in outcome.findings] == [(11, None)]


def test_without_a_usable_quote_the_number_decides_as_before() -> None:
    outcome = anchor([_raw(12), _raw(14, code="nowhere in this diff"), _raw(90)], [FILE])
    assert [f.new_line for f in outcome.findings] == [12, 14]
    assert outcome.dropped == 1
    assert outcome.by_quote == 0


def test_a_wrong_path_is_rescued_by_a_quote_found_in_one_file() -> None:
    other = FileDiff(
        "b.py", "b.py", FileStatus.ADDED, tuple(parse_hunks("@@ -0,0 +1 @@\n+y = 2\n"))
    )
    outcome = anchor([_raw(0, code="out.append(dict(row))", path="nope.py")], [other, FILE])
    assert [(f.path, f.new_line) for f in outcome.findings] == [("app.py", 15)]


def test_the_parser_reads_the_quote_and_accepts_a_finding_with_only_a_quote() -> None:
    text = json.dumps(
        {
            "findings": [
                {
                    "path": "app.py",
                    "code": "rows = conn.execute(sql)",
                    "severity": "major",
                    "title": "t",
                }
            ]
        }
    )
    parsed = parse_output(text)
    assert [(f.line, f.code) for f in parsed.findings] == [(0, "rows = conn.execute(sql)")]
    assert [f.new_line for f in anchor(parsed.findings, [FILE]).findings] == [12]
    assert (
        parse_output(
            '{"findings": [{"path": "a", "severity": "major", "title": "t"}]}'
        ).dropped_invalid
        == 1
    )
