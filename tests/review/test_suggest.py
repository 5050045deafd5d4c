"""The rules a suggestion must pass before it is offered for applying (review/suggest.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from revisor.domain import FileDiff, Finding, Severity
from revisor.review import suggest
from revisor.review.anchor import anchor
from revisor.review.parse import RawFinding, parse_output
from revisor.review.suggest import is_prose_line, left_out_counts, vet_findings, vet_suggestion
from tests.review.helpers import hunk, modified_file

# new lines: 10 def load(db, user_id): / 11 row = ... / 12 if row is None: / 13 return None /
# 14 return row["name"]
PY = modified_file(
    "app/users.py",
    [
        hunk(
            10,
            10,
            [
                (" ", "def load(db, user_id):"),
                ("-", '    row = db.execute("SELECT * FROM users WHERE id = %s" % user_id)'),
                ("+", '    row = db.execute("SELECT * FROM users WHERE id = " + user_id)'),
                (" ", "    if row is None:"),
                (" ", "        return None"),
                ("+", '    return row["name"]'),
            ],
        )
    ],
)
GO = modified_file(
    "main.go",
    [hunk(5, 5, [(" ", "func run(cmd string) {"), ("+", "\texec.Command(cmd).Run()"), (" ", "}")])],
)
PROSE = "Use subprocess.run with a list of arguments instead of shell=True."


def finding(file: FileDiff, line: int, suggestion: str | None, **span: int) -> Finding:
    return Finding(
        path=file.path,
        old_path=file.old_path,
        old_line=None,
        new_line=line,
        severity=Severity.MAJOR,
        title="t",
        body="b",
        suggestion=suggestion,
        suggestion_first=span.get("first"),
        suggestion_last=span.get("last"),
    )


def vet(file: FileDiff, line: int, suggestion: str, **kw: object) -> Finding:
    head = kw.pop("head_text", None)
    return vet_suggestion(finding(file, line, suggestion, **kw), file, head)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        PROSE,
        "Consider validating the input before passing it to the shell",
        "Validate the input",
        "You should close the file here.",
        "This will fail when row is None!",
    ],
)
def test_prose_is_refused_in_any_language(text: str) -> None:
    assert vet(GO, 6, text).suggestion_left_out == suggest.NOT_CODE
    assert vet(PY, 11, text).suggestion_left_out == suggest.NOT_CODE
    assert vet(PY, 11, text).suggestion is None


@pytest.mark.parametrize(
    "line",
    [
        "assert x is not None",
        "return a if b else c",
        "from a import b as c",
        'public static final String NAME = "the value";',
        "export default async function name() {",
        'raise ValueError("could not open the file, retrying.")',
        "SELECT name FROM users WHERE id = ?",
        "for item in items:",
        "} else if err != nil {",
        '\texec.Command("sh", "-c", cmd).Run()',
        "x = 1",
        "static const int EVERY_NTH = 1009;  // Should be a prime number",
        "return executeBound(func, bound, this, this, args);",
        "var that = this,",
    ],
)
def test_code_lines_do_not_read_as_prose(line: str) -> None:
    assert not is_prose_line(line)


def test_identical_and_empty_suggestions_are_refused() -> None:
    spaced = vet(PY, 11, '    row  =  db.execute("SELECT * FROM users WHERE id = " + user_id)  ')
    assert spaced.suggestion_left_out == suggest.UNCHANGED
    same = vet(PY, 11, 'row = db.execute("SELECT * FROM users WHERE id = " + user_id)')
    assert same.suggestion_left_out == suggest.UNCHANGED
    assert vet(PY, 11, "  \n").suggestion_left_out == suggest.EMPTY


def test_python_that_does_not_compile_is_refused() -> None:
    broken = vet(PY, 11, '    row = db.execute("SELECT * FROM users WHERE id = ?", (user_id,)')
    assert broken.suggestion_left_out == suggest.NOT_COMPILING
    # Unindented under `if`: the hunk no longer parses.
    dedented = vet(PY, 13, "return {}", first=13, last=13)
    assert dedented.suggestion == "        return {}"  # the line's indentation was added
    unindented = vet(PY, 12, "if row is None:\nreturn {}", first=12, last=13)
    assert unindented.suggestion_left_out == suggest.NOT_COMPILING  # relative indents are kept


def test_the_head_file_is_the_context_when_it_is_known() -> None:
    """`return` at module level parses as a statement but does not compile in the file."""
    lines = ["import os", "", "LIMIT = 1", "x = os.sep"]
    file = modified_file("m.py", [hunk(3, 3, [(" ", "LIMIT = 1"), ("+", "x = os.sep")])])
    assert vet(file, 4, "return os.sep").suggestion == "return os.sep"  # hunk context: parses
    in_file = vet(file, 4, "return os.sep", head_text="\n".join(lines))
    assert in_file.suggestion_left_out == suggest.NOT_COMPILING
    good = vet(file, 4, "x = os.path.sep", head_text="\n".join(lines))
    assert good.suggestion == "x = os.path.sep"


def test_valid_one_and_multi_line_suggestions_are_kept_with_the_lines_they_replace() -> None:
    one = vet(PY, 11, '    row = db.execute("SELECT * FROM users WHERE id = ?", (user_id,))')
    assert one.suggestion_left_out == ""
    assert (one.suggestion_first, one.suggestion_last) == (11, 11)
    assert one.suggestion_replaces == (
        '    row = db.execute("SELECT * FROM users WHERE id = " + user_id)',
    )
    many = vet(
        PY, 14, "    if row:\n        return row['name']\n    return None", first=12, last=14
    )
    assert many.suggestion == "    if row:\n        return row['name']\n    return None"
    assert (many.suggestion_first, many.suggestion_last) == (12, 14)
    assert many.suggestion_replaces == (
        "    if row is None:",
        "        return None",
        '    return row["name"]',
    )
    go = vet(GO, 6, 'exec.Command("sh", "-c", cmd).Run()')
    assert go.suggestion == '\texec.Command("sh", "-c", cmd).Run()'


def test_lines_outside_the_diff_or_the_comment_are_refused() -> None:
    for span in ({"first": 9, "last": 11}, {"first": 12, "last": 13}, {"first": 11, "last": 15}):
        out = vet(PY, 11, "    row = None", **span)
        assert out.suggestion_left_out == suggest.LINES_NOT_IN_DIFF, span
    long = modified_file("a.go", [hunk(1, 1, [("+", f"v{i} := {i}") for i in range(1, 110)])])
    assert vet(long, 102, "v := 0", first=1, last=102).suggestion_left_out == (
        suggest.LINES_NOT_IN_DIFF  # 101 lines above: more than GitLab applies
    )
    assert vet(long, 101, "v := 0", first=1, last=101).suggestion == "v := 0"


def test_fences_commands_and_what_only_the_model_saw_are_refused() -> None:
    wrapped = vet(GO, 6, '```go\n\texec.Command(cmd, "-x").Run()\n```')
    assert wrapped.suggestion == '\texec.Command(cmd, "-x").Run()'  # one wrapping fence: taken off
    inner = vet(GO, 6, "x := 1\n```\n/approve\n```")
    assert inner.suggestion_left_out == suggest.FENCE
    assert vet(GO, 6, "x := 1\n/approve").suggestion_left_out == suggest.COMMAND
    secret = modified_file("k.go", [hunk(1, 1, [("+", 'key := "[REDACTED:token]"')])])
    assert vet(secret, 1, 'key := os.Getenv("KEY")').suggestion_left_out == suggest.MODEL_ONLY
    assert vet(GO, 6, "x := [U+202E]").suggestion_left_out == suggest.MODEL_ONLY


def test_comments_do_not_replace_code_but_prose_may_replace_prose() -> None:
    assert vet(GO, 6, "// TODO: quote cmd").suggestion_left_out == suggest.NOT_CODE
    doc = modified_file("README.md", [hunk(1, 1, [("+", "Run the server with make run")])])
    fixed = vet(doc, 1, "Run the server with `make serve`.")
    assert fixed.suggestion == "Run the server with `make serve`."


def test_the_model_names_the_lines_and_a_moved_finding_loses_its_suggestion() -> None:
    answer = (
        '{"findings": [{"path": "app/users.py", "line": 14, "severity": "major", "title": "t",'
        ' "suggestion": "    return row", "suggestion_start_line": "12",'
        ' "suggestion_end_line": 14}, {"path": "app/users.py", "line": 16, "severity": "minor",'
        ' "title": "u", "suggestion": "    return row"}]}'
    )
    (raw, moved) = parse_output(answer).findings
    assert (raw.suggestion_first, raw.suggestion_last) == (12, 14)
    outcome = anchor([raw, moved], [PY])
    assert [(f.new_line, f.suggestion_first) for f in outcome.findings] == [(14, 12), (14, 16)]
    first, second = vet_findings(outcome.findings, [PY])
    assert (first.suggestion, first.suggestion_first, first.suggestion_last) == (
        "    return row", 12, 14,
    )  # fmt: skip
    assert second.suggestion_left_out == suggest.LINES_NOT_IN_DIFF  # written for line 16


def test_a_suggestion_on_a_removed_line_is_counted() -> None:
    raw = RawFinding("app/users.py", 11, "old", Severity.MINOR, "t", "b", "row = None")
    (found,) = anchor([raw], [PY]).findings
    assert (found.suggestion, found.suggestion_left_out) == (None, suggest.NOT_ON_NEW_LINE)
    kept = replace(found, suggestion_left_out="")
    assert left_out_counts([found, found, kept, replace(found, suggestion_left_out="x")]) == (
        (suggest.NOT_ON_NEW_LINE, 2),
        ("x", 1),
    )


def test_the_head_file_is_read_once_per_python_file_with_a_suggestion() -> None:
    asked: list[str] = []

    def read_head(path: str) -> str | None:
        asked.append(path)
        return None

    findings = [
        finding(PY, 11, "    row = None"),
        finding(PY, 14, "    return row"),
        finding(PY, 12, None),
        finding(GO, 6, "x := 1"),
    ]
    vetted = vet_findings(findings, [PY, GO], read_head)
    assert asked == ["app/users.py"]
    assert [f.suggestion_left_out for f in vetted] == ["", "", "", ""]
