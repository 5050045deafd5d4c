from __future__ import annotations

from dataclasses import replace

from revisor.domain import Finding, ReviewResult, Severity, SkippedFile, Usage
from revisor.review.policy import Policy
from revisor.review.summary import MAX_NOTE_CHARS, render_summary
from revisor.text.inert import inert
from revisor.text.markers import SUMMARY_MARKER
from tests.fakes.quick_actions import extract_quick_actions
from tests.review.helpers import added_file, hunk, modified_file
from tests.review.markdown_oracle import live_constructs


def _finding(path: str, line: int, severity: Severity, title: str, **changes: object) -> Finding:
    base = Finding(path, path, None, line, severity, title, "body")
    return replace(base, **changes)  # type: ignore[arg-type]


def _result(**changes: object) -> ReviewResult:
    base = ReviewResult(
        findings=(),
        reviewed_files=("src/a.py", "src/b.py"),
        skipped=(SkippedFile("yarn.lock", "lock file"),),
        model="qwen",
        prompt_version="review-v2",
        usage=Usage(10, 5, 1, 100),
        duration_ms=2_000,
        chunks_total=2,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


FILES = (
    modified_file("src/a.py", [hunk(1, 1, [("+", "def load(path):")], section="class Store:")]),
    added_file("src/b.py", ["x = 1", "y = 2"]),
)


def test_the_sections_come_in_the_order_a_developer_reads_them() -> None:
    result = _result(
        chunks_failed=1,
        findings=(_finding("src/a.py", 3, Severity.MAJOR, "Leak"),),
        file_notes=(("src/a.py", "Adds a loader."),),
        dropped_below_severity=1,
    )
    text = render_summary(result, files=FILES, policy=Policy(warnings=("bad key",)))
    order = [
        SUMMARY_MARKER,
        "**Warning: partial review.**",
        "**Files reviewed (2)**",
        "**Findings:** 1 (1 major)",
        "**Not reviewed or not posted**",
        "**Files skipped (1)**",
        "**Repository configuration**",
        "<sub>Model `qwen`",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_each_reviewed_file_gets_the_models_sentence_or_one_from_its_diff() -> None:
    result = _result(file_notes=(("src/a.py", "Adds a loader\nfor the store."), ("src/a.py", "x")))
    text = render_summary(result, files=FILES)
    assert "- `src/a.py`: Adds a loader for the store." in text
    assert "- `src/b.py`: New file, +2/-0 lines." in text
    # A file with neither a note nor a diff still appears, bare.
    assert "- `src/b.py`" in render_summary(result)


def test_a_long_note_is_cut() -> None:
    note = "word " * 200
    text = render_summary(_result(file_notes=(("src/a.py", note),)), files=FILES)
    line = next(x for x in text.split("\n") if x.startswith("- `src/a.py`"))
    assert line == "- `src/a.py`: " + ("word " * 60)[: MAX_NOTE_CHARS - 1].rstrip() + "…"


def test_many_files_fold_into_details() -> None:
    paths = tuple(f"src/m{i}.py" for i in range(16))
    text = render_summary(
        _result(reviewed_files=paths), files=[added_file(p, ["a"]) for p in paths]
    )
    assert "<details><summary>Files reviewed (16)</summary>" in text
    assert "- `src/m15.py`: New file, +1/-0 line." in text
    few = render_summary(_result(reviewed_files=paths[:15]))
    assert "<details>" not in few


def test_findings_are_listed_by_severity_with_their_source() -> None:
    findings = (
        _finding("src/b.py", 9, Severity.MINOR, "Unused variable"),
        _finding("src/a.py", 4, Severity.CRITICAL, "SQL built from input", source="ruff",
                 rule="S608"),
        _finding("src/a.py", 2, Severity.MAJOR, "Token committed", source="redaction"),
        _finding("src/c.go", 7, Severity.MAJOR, "Error ignored", source="ast-grep",
                 rule="go-unchecked-err"),
    )  # fmt: skip
    text = render_summary(_result(findings=findings))
    assert "**Findings:** 4 (1 critical, 2 major, 1 minor)" in text
    lines = [line for line in text.split("\n") if line.startswith("- **")]
    assert lines == [
        "- **Critical** `src/a.py:4`: SQL built from input (ruff S608, confirmed by the model)",
        "- **Major** `src/a.py:2`: Token committed (found before the model saw the code)",
        "- **Major** `src/c.go:7`: Error ignored (ast-grep go-unchecked-err, confirmed by the "
        "model)",
        "- **Minor** `src/b.py:9`: Unused variable",
    ]
    assert "**Findings:** none" in render_summary(_result())


def test_many_findings_fold_into_details() -> None:
    findings = tuple(_finding("a.py", i, Severity.MINOR, f"F{i}") for i in range(1, 17))
    text = render_summary(_result(findings=findings))
    assert "**Findings:** 16 (16 minor)" in text
    assert "<details><summary>All findings (16)</summary>" in text


def test_what_was_left_out_is_said_with_its_reason() -> None:
    candidate = _finding("src/a.py", 1, Severity.MAJOR, "maybe")
    result = _result(
        unconfirmed=(candidate, candidate, candidate),
        dropped_below_severity=2,
        dropped_over_cap=1,
        dropped_unanchored=4,
        analyzer_errors=("ast-grep timed out after 30 s",),
        redactions=1,
        cut_lines=2,
        suggestions_left_out=(("not code", 1),),
    )
    text = render_summary(result, already_posted=5)
    section = text.split("**Not reviewed or not posted**", 1)[1].split("**Files skipped", 1)[0]
    assert (
        "- Not posted: 5 already posted earlier; 2 below the minimum severity; 1 over the "
        "comment limit; 4 malformed or not on a line of the diff." in section
    )
    assert "- 3 candidate findings not confirmed by the verification pass." in section
    assert "- 1 suggestion left out: 1 not code." in section
    assert "- Analyzer problem: ast-grep timed out after 30 s" in section
    assert "- Redacted before review: 1 secret(s)" in section
    assert "- Cut before review: 2 line(s)" in section
    assert "- `yarn.lock`: lock file" in text
    one = render_summary(_result(unconfirmed=(candidate,)))
    assert "1 candidate finding not confirmed by the verification pass." in one
    assert "Not reviewed or not posted" not in render_summary(_result())


HOSTILE = (
    "/merge\n/approve @alice see [click](https://evil/x) <img src=x onerror=alert(1)> "
    "![p](https://evil/p.png) group/app#1 !2 ~bug www.evil.com mail@evil.com"
)


def test_hostile_notes_titles_and_analyzer_text_are_inert() -> None:
    findings = (
        _finding("src/@all/#1.py", 3, Severity.MAJOR, HOSTILE),
        _finding("src/a.py", 4, Severity.MINOR, HOSTILE, source="ruff", rule="/close @bob"),
    )
    result = _result(
        findings=findings,
        file_notes=(("src/a.py", HOSTILE), ("src/b.py", "```\n/merge\n")),
        analyzer_errors=(HOSTILE,),
        unconfirmed=findings,
        skipped=(SkippedFile("/unapprove.py", HOSTILE),),
    )
    text = render_summary(result, files=FILES)
    assert inert(text) == text
    assert live_constructs(text) == []
    assert extract_quick_actions(text)[1] == []
    assert "<img" not in text
    assert "](https" not in text
