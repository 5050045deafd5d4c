from __future__ import annotations

from dataclasses import replace

from revisor.domain import (
    Finding,
    InlineComment,
    RejectedComment,
    ReviewResult,
    Severity,
    SkippedFile,
    Usage,
)
from revisor.review.policy import Policy
from revisor.review.render import (
    apply_policy,
    dedup,
    escape_markdown,
    fingerprint,
    render_comment,
)
from revisor.review.summary import render_summary
from revisor.text.inert import inert
from revisor.text.markers import SUMMARY_MARKER, find_fingerprint
from tests.fakes.quick_actions import extract_quick_actions
from tests.review.markdown_oracle import live_constructs


def commands(text: str) -> list[tuple[str, str]]:
    return extract_quick_actions(text)[1]


def test_escape_html_images_links_urls_and_mentions() -> None:
    text = (
        "<img src=x onerror=alert(1)> <script>x</script> ![pixel](https://evil/t.png) "
        "[click me](https://evil/login) see https://evil/x cc @all #12 !34"
    )
    out = escape_markdown(text)
    assert "<" not in out
    assert ">" not in out
    assert "![" not in out
    assert "](https" not in out  # no markdown link survives
    assert "[click me](" not in out
    assert "`https://evil/x`" in out  # bare URL shown as code, not a link
    assert "`@all`" in out
    assert "`#12`" in out
    assert "`!34`" in out


def test_code_spans_stay_readable_and_unclosed_fences_are_closed() -> None:
    out = escape_markdown("Use `a < b` here.\n```python\nif a < b:\n    pass")
    assert "`a < b`" in out
    assert out.endswith("```")
    assert "if a < b:" in out  # inside a fence: shown literally by the forge


def _finding(**changes: object) -> Finding:
    base = Finding(
        path="src/a.py",
        old_path="src/a.py",
        old_line=None,
        new_line=12,
        severity=Severity.MAJOR,
        title="Possible <None>",
        body="`x` may be None, see [docs](http://x)",
        suggestion="if x is not None:",
        fingerprint="0123456789abcdef",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_inline_comment_body() -> None:
    comment = render_comment(_finding())
    assert (comment.path, comment.new_line, comment.old_line) == ("src/a.py", 12, None)
    assert comment.body.startswith("**Major:** Possible &lt;None&gt;")
    assert "```suggestion\nif x is not None:\n```" in comment.body
    assert find_fingerprint(comment.body) == "0123456789abcdef"
    assert "](http" not in comment.body


def test_suggestion_with_backticks_gets_a_longer_fence_and_none_on_removed_lines() -> None:
    comment = render_comment(_finding(suggestion="s = '```'"))
    assert "````suggestion\ns = '```'\n````" in comment.body
    removed = render_comment(_finding(new_line=None, old_line=11))
    assert "suggestion" not in removed.body


def test_fingerprint_is_stable_across_line_shifts_and_whitespace() -> None:
    a = fingerprint("src/a.py", "Possible None!", "    return x.y")
    assert a == fingerprint("src/a.py", "possible   none", "return   x.y  ")
    assert len(a) == 16
    assert int(a, 16) >= 0
    assert a != fingerprint("src/b.py", "Possible None!", "    return x.y")
    assert a != fingerprint("src/a.py", "Possible None!", "    return x.z")
    assert a != fingerprint("src/a.py", "SQL injection", "    return x.y")


def test_policy_min_severity_cap_and_dedup_with_security_findings_exempt() -> None:
    findings = [
        _finding(severity=Severity.INFO, fingerprint="a" * 16, new_line=10),
        _finding(severity=Severity.MINOR, fingerprint="b" * 16, new_line=20),
        _finding(severity=Severity.CRITICAL, fingerprint="c" * 16, new_line=30),
        _finding(severity=Severity.MAJOR, fingerprint="d" * 16, new_line=40),
        _finding(severity=Severity.MAJOR, fingerprint="d" * 16, new_line=40),  # twice
        _finding(severity=Severity.INFO, fingerprint="e" * 16, source="redaction", new_line=30),
    ]
    kept, below, over, duplicates = apply_policy(
        findings, Policy(min_severity=Severity.MINOR, max_comments=2)
    )
    assert [f.fingerprint[0] for f in kept] == ["c", "d", "e"]
    assert (below, over, duplicates) == (1, 1, 1)
    new, already = dedup(kept, {"c" * 16})
    assert [f.fingerprint[0] for f in new] == ["d", "e"]
    assert already == 1


def test_one_finding_per_problem_the_most_severe_kept() -> None:
    """Two titles about one problem on neighbouring lines (or two on one line) are posted once;
    a different problem two lines away, and a redaction finding on the same line, are not
    merged."""
    findings = [
        _finding(new_line=10, title="SQL injection via f-string", fingerprint="a" * 16),
        _finding(
            new_line=11,
            title="SQL injection in query",
            severity=Severity.CRITICAL,
            fingerprint="b" * 16,
        ),
        _finding(new_line=11, title="Unrelated", severity=Severity.MINOR, fingerprint="c" * 16),
        _finding(new_line=12, title="File handle never closed", fingerprint="d" * 16),
        _finding(new_line=11, title="Token", source="redaction", fingerprint="e" * 16),
    ]
    kept, below, over, duplicates = apply_policy(findings, Policy(max_comments=10))
    assert sorted(f.fingerprint[0] for f in kept) == ["b", "d", "e"]
    assert (below, over, duplicates) == (0, 0, 2)


def _result(**changes: object) -> ReviewResult:
    base = ReviewResult(
        findings=(_finding(), _finding(severity=Severity.CRITICAL, fingerprint="f" * 16)),
        reviewed_files=("src/a.py",),
        skipped=(SkippedFile("yarn.lock", "lock file"), SkippedFile("<b>x</b>.py", "binary file")),
        model="smollm2",
        prompt_version="review-v1+abc",
        usage=Usage(1200, 300, 3, 4000),
        duration_ms=12_345,
        chunks_total=3,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_summary_lists_everything_a_reader_needs() -> None:
    rejected = RejectedComment(
        InlineComment("src/a.py", "src/a.py", None, 99, "**Minor:** Odd line\n\nbody", "9" * 16),
        "line_code can't be blank",
    )
    text = render_summary(
        _result(dropped_below_severity=2, redactions=1),
        policy=Policy(ignored_keys=("model",), warnings=("bad <key>",)),
        not_inline=[rejected],
        already_posted=4,
    )
    assert text.startswith(SUMMARY_MARKER)
    assert "partial review" not in text.lower()
    assert "**Findings:** 2 (1 critical, 1 major)" in text
    assert "4 already posted earlier" in text
    assert "2 below the minimum severity" in text
    assert "- `yarn.lock`: lock file" in text
    assert "`<b>x</b>.py`" in text  # a hostile file name stays inside a code span
    assert "bad &lt;key&gt;" in text
    assert "- `src/a.py:99`: **Minor:** Odd line" in text
    assert "`smollm2`" in text
    assert "`review-v1+abc`" in text
    assert "1,200 prompt + 300 completion tokens" in text
    assert "12.3 s" in text


def test_summary_warns_loudly_about_a_partial_review() -> None:
    text = render_summary(_result(chunks_failed=1))
    assert "**Warning: partial review.** 1 of 3 parts" in text


def test_rendered_text_passes_the_forge_seam_unchanged_and_is_inert() -> None:
    """What render writes is already inert, so the adapters' pass changes nothing (markers,
    suggestions and the collapsed file list survive it)."""
    hostile = _finding(
        title="/approve @alice",
        body="fine\n/merge\n> /close\nsee group/app#1 <img src=x>\n```\n/unapprove",
        suggestion="if x is not None:\n    return x",
    )
    body = render_comment(hostile).body
    assert inert(body) == body
    assert live_constructs(body) == []
    assert "```suggestion\nif x is not None:\n    return x\n```" in body
    files = tuple(f"src/@m{i}/#{i}.py" for i in range(20))
    summary = render_summary(
        _result(reviewed_files=files, chunks_failed=1),
        policy=Policy(warnings=("/approve", "@alice")),
    )
    assert inert(summary) == summary
    assert live_constructs(summary) == []
    assert summary.startswith(SUMMARY_MARKER)
    assert "<details><summary>Files reviewed (20)</summary>" in summary


def test_a_suggestion_gitlab_could_run_is_left_out() -> None:
    body = render_comment(_finding(suggestion="x = 1\n/approve")).body
    assert "suggestion" not in body.split("\n\n", 1)[1].split("left out")[0]
    assert "A suggested change was left out" in body
    assert commands(body) == []
