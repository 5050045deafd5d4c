"""Over-long diff lines: redacted whole, then cut for the model with a marker, and counted."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from revisor.domain import ChatMessage, Completion, RouteHints, Usage
from revisor.review.engine import review_files
from revisor.review.plan import MAX_LINE_CHARS, cut_line, cut_long_lines, plan_review
from revisor.review.policy import Policy
from revisor.review.summary import render_summary

from .helpers import added_file, hunk, modified_file

SECRET = "ghp_0123456789abcdefghijABCDEFGHIJ012345"


def test_a_long_line_is_cut_with_a_marker_and_counted() -> None:
    long = "x = [" + "1, " * 60_000 + "]"
    file = added_file("data.py", [f"a = 1  # {i}" for i in range(30)] + [long])
    plan = plan_review([file], Policy(), budget_tokens=4000)
    assert plan.cut_lines == 1
    lines = [line.text for chunk in plan.chunks for f in chunk.files for line in f.lines()]
    cut = lines[-1]
    assert cut == long[:MAX_LINE_CHARS] + (
        f" [Revisor cut this line: {len(long) - MAX_LINE_CHARS:,} more characters]"
    )
    assert plan.reviewed == ("data.py",)
    assert plan.skipped == ()


def test_a_secret_past_the_cut_is_still_redacted_and_reported() -> None:
    # 190 KB of code, then a token: the whole line is redacted before it is cut.
    long = "y" * (MAX_LINE_CHARS - 10) + " " + SECRET + " " + "z" * 190_000
    file = modified_file("app.py", [hunk(1, 1, [(" ", "ctx")] * 25 + [("+", long)])])
    plan = plan_review([file], Policy(), budget_tokens=4000)
    text = [line.text for chunk in plan.chunks for f in chunk.files for line in f.lines()][-1]
    assert "ghp_0123" not in text
    assert plan.cut_lines == 1
    assert plan.redactions == 1
    assert [f.title for f in plan.findings] == ["A credential appears in this diff"]


def test_short_lines_are_untouched() -> None:
    file = added_file("a.py", ["x" * MAX_LINE_CHARS, "y = 1"])
    files, count = cut_long_lines([file])
    assert files == (file,)
    assert count == 0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.integers(1, 50))
def test_cut_line_keeps_the_prefix_and_counts_the_rest(text: str, limit: int) -> None:
    out = cut_line(text, limit)
    if len(text) <= limit:
        assert out == text
    else:
        marker = f" [Revisor cut this line: {len(text) - limit:,} more characters]"
        assert out == text[:limit] + marker


class _NoFindings:
    concurrency = 1

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        json_mode: bool = True,
        hints: RouteHints | None = None,
    ) -> Completion:
        return Completion('{"findings": []}', "m", "http://127.0.0.1:1", Usage(1, 1, 1, 1))


def test_the_summary_says_how_many_lines_were_cut() -> None:
    lines = [f"a = {i}" for i in range(30)] + ["b = '" + "x" * 5000 + "'", "c = '" + "y" * 3000]
    result = review_files(
        [added_file("wide.py", lines)],
        mr=None,
        policy=Policy(),
        model=_NoFindings(),
        context_tokens=4096,
        max_output_tokens=256,
    )
    assert result.cut_lines == 2
    summary = render_summary(result)
    assert "Cut before review: 2 line(s) too long for the model" in summary
