"""The pure rules of a review that remembers (review/memory.py)."""

from __future__ import annotations

from revisor.domain import FileDiff, FileStatus, Finding, Severity
from revisor.review.memory import (
    Coverage,
    files_to_review,
    line_key,
    line_still_there,
    similarity_key,
    split_suppressed,
    summary_lines,
)


def _finding(path: str, title: str, fp: str) -> Finding:
    return Finding(path, path, None, 3, Severity.MAJOR, title, "body", fingerprint=fp)


def test_similarity_key_ignores_the_path_spacing_and_case() -> None:
    assert similarity_key("Shell  injection!", "  call(x,  shell=True)") == similarity_key(
        "shell injection", "call(x, shell=True)"
    )
    assert similarity_key("Shell injection", "call(x)") != similarity_key(
        "SQL injection", "call(x)"
    )


def test_split_suppressed_by_fingerprint_or_key() -> None:
    a, b, c = (
        _finding("a.py", "A", "aa" * 8),
        _finding("b.py", "B", "bb" * 8),
        _finding("c.py", "C", "cc" * 8),
    )
    kept, n = split_suppressed(
        [a, b, c], fingerprints={"aa" * 8}, keys={"key-of-C"}, key_of=lambda f: f"key-of-{f.title}"
    )
    assert (kept, n) == ((b,), 2)


def test_files_to_review_matches_either_path() -> None:
    moved = FileDiff("old/name.py", "new/name.py", FileStatus.RENAMED, ())
    other = FileDiff("x.py", "x.py", FileStatus.MODIFIED, ())
    assert files_to_review([moved, other], {"old/name.py"}) == [moved]
    assert files_to_review([moved, other], set()) == []


def test_line_keys_find_a_line_again_without_keeping_it() -> None:
    key = line_key("    subprocess.call(x, shell=True)")
    assert line_still_there("a\nsubprocess.call(x,  shell=True)\n", key)
    assert not line_still_there("a\nsubprocess.run([x])\n", key)
    assert not line_still_there(None, key)


def test_summary_lines_say_what_was_covered() -> None:
    assert summary_lines(None) == []
    assert summary_lines(Coverage("full")) == []
    inc = "\n".join(summary_lines(Coverage("incremental", "h" * 40, "abcdef0123456789", 1, 10)))
    assert "changes since `abcdef012345`: 1 of 10 changed file(s)" in inc
    fallback = "\n".join(summary_lines(Coverage("fallback", since_sha="f" * 40)))
    assert "no longer in its history" in fallback
    counts = "\n".join(summary_lines(Coverage("full", suppressed=2, resolved=1, asked=True)))
    assert "Suppressed: 2" in counts
    assert "Resolved: 1" in counts
    assert "as asked" in counts
