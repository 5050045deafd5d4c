"""How a checked suggestion is posted: GitLab's `suggestion:-N+M` block, which applied gives
exactly the intended file, or a fenced diff for a forge without suggestions (Gitea)."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from revisor.domain import (
    DiffLine,
    FileDiff,
    FileStatus,
    Finding,
    Hunk,
    LineKind,
    ReviewResult,
    Severity,
    SuggestionStyle,
)
from revisor.review.render import render_comment
from revisor.review.suggest import vet_suggestion
from revisor.review.summary import render_summary
from revisor.text.inert import inert
from tests.review.markdown_oracle import live_constructs

_BLOCK = re.compile(r"^(`{3,})suggestion(?::-(\d+)\+(\d+))?\n(.*?)\n\1$", re.MULTILINE | re.DOTALL)


def apply_gitlab(body: str, head: list[str], line: int) -> list[str]:
    """What GitLab does when the author applies the comment's suggestion on new line `line`:
    lines line-N .. line+M of the head file are replaced by the block's lines."""
    match = _BLOCK.search(body)
    assert match is not None, body
    above, below = int(match.group(2) or 0), int(match.group(3) or 0)
    return head[: line - above - 1] + match.group(4).split("\n") + head[line + below :]


def context_file(path: str, head: list[str], start: int, end: int) -> FileDiff:
    """A diff whose one hunk shows head lines start..end (1-based), the others unchanged."""
    lines = tuple(DiffLine(LineKind.CONTEXT, n, n, head[n - 1]) for n in range(start, end + 1))
    return FileDiff(
        path, path, FileStatus.MODIFIED, (Hunk(start, len(lines), start, len(lines), "", lines),)
    )


def finding(path: str, line: int, code: str, first: int, last: int) -> Finding:
    return Finding(
        path=path,
        old_path=path,
        old_line=line,
        new_line=line,
        severity=Severity.MINOR,
        title="t",
        body="b",
        suggestion=code,
        suggestion_first=first,
        suggestion_last=last,
        fingerprint="0123456789abcdef",
    )


_CODE_LINE = st.builds(
    lambda name, value, indent: f"{'    ' * indent}{name} := compute({value});",
    st.sampled_from(["a", "b", "total", "n_items", "x1"]),
    st.integers(0, 999),
    st.integers(0, 2),
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_applying_the_gitlab_suggestion_gives_exactly_the_intended_file(
    data: st.DataObject,
) -> None:
    head = data.draw(st.lists(_CODE_LINE, min_size=1, max_size=40))
    start = data.draw(st.integers(1, len(head)))
    end = data.draw(st.integers(start, len(head)))
    first = data.draw(st.integers(start, end))
    last = data.draw(st.integers(first, end))
    line = data.draw(st.integers(first, last))
    new = data.draw(st.lists(_CODE_LINE, min_size=1, max_size=6))
    if [" ".join(s.split()) for s in new] == [" ".join(s.split()) for s in head[first - 1 : last]]:
        new = [*new, "done := true;"]
    file = context_file("main.go", head, start, end)
    vetted = vet_suggestion(finding("main.go", line, "\n".join(new), first, last), file)
    assert vetted.suggestion_left_out == ""
    body = render_comment(vetted, SuggestionStyle.BLOCK).body
    intended = head[: first - 1] + (vetted.suggestion or "").split("\n") + head[last:]
    assert apply_gitlab(body, head, line) == intended
    assert inert(body) == body


def test_the_offsets_count_lines_above_and_below_the_commented_line() -> None:
    head = [f"v{i} := {i};" for i in range(1, 11)]
    file = context_file("main.go", head, 1, 10)
    body = render_comment(vet_suggestion(finding("main.go", 5, "v := 0;", 3, 8), file)).body
    assert "```suggestion:-2+3\nv := 0;\n```" in body
    single = render_comment(vet_suggestion(finding("main.go", 5, "v := 0;", 5, 5), file)).body
    assert "```suggestion\nv := 0;\n```" in single  # the line alone: the plain form


def test_gitea_gets_a_fenced_diff_of_the_change() -> None:
    head = ["def f(x):", "    if x:", "        return x", "    return None"]
    file = context_file("f.py", head, 1, 4)
    vetted = vet_suggestion(finding("f.py", 3, "    return x or None", 2, 4), file)
    body = render_comment(vetted, SuggestionStyle.DIFF).body
    assert (
        "Suggested change:\n\n```diff\n-    if x:\n-        return x\n-    return None\n"
        "+    return x or None\n```"
    ) in body
    assert "suggestion" not in body
    assert inert(body) == body
    assert live_constructs(body) == []


def test_a_left_out_suggestion_says_why_and_the_summary_counts_them() -> None:
    base = finding("f.go", 1, "x", 1, 1)
    left_out = replace(base, suggestion=None, suggestion_left_out="not code")
    for style in SuggestionStyle:
        body = render_comment(left_out, style).body
        assert "A suggested change was left out: not code." in body
        assert "```" not in body
    result = ReviewResult(
        findings=(left_out,),
        reviewed_files=("f.go",),
        skipped=(),
        model="m",
        prompt_version="v",
        suggestions_left_out=(("not code", 2), ("same as the code", 1)),
    )
    assert "3 suggestions left out: 2 not code, 1 same as the code." in render_summary(result)
    assert "left out" not in render_summary(replace(result, suggestions_left_out=()))
