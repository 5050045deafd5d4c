"""What a review remembers of earlier ones: which files to review again, which findings people
suppressed, and what the summary says about both. Pure functions; the worker does the I/O
(`worker/memory.py`).

- Incremental review: after a push, only the files changed since the last reviewed head are
  sent to the model (`files_to_review`); the forge's positions still come from the whole merge
  request's diff, so comments land where they always did. A head that is no longer in the merge
  request's history (force-push, rebase) means a full review, and the summary says why.
- Suppressions: a finding is suppressed by its fingerprint (path, title, line text), or by its
  similarity key (title and line text without the path), so the same finding in another file
  or after the code moved is caught too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from revisor.domain import FileDiff, Finding

__all__ = [
    "Coverage",
    "files_to_review",
    "line_key",
    "line_still_there",
    "line_text",
    "same_finding",
    "similarity_key",
    "split_suppressed",
    "summary_lines",
]


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def similarity_key(title: str, line: str) -> str:
    """16 hex digits over the normalised title and the anchored line's text (not the path)."""
    material = _normalise(title) + "\0" + " ".join(line.split())
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def line_key(line: str) -> str:
    """16 hex digits naming a line's text (whitespace-insensitive), to find it again later
    without storing the code."""
    normal = " ".join(line.split())
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def line_still_there(text: str | None, key: str) -> bool:
    """Whether a file's text (None: the file is gone) still has a line with this key."""
    return text is not None and any(line_key(line) == key for line in text.splitlines())


def same_finding(a_path: str, a_title: str, b_path: str, b_title: str) -> bool:
    """The same problem raised again in the same file (the model still confirms it)."""
    return a_path == b_path and _normalise(a_title) == _normalise(b_title)


def line_text(files: Sequence[FileDiff], finding: Finding) -> str:
    """The text of the diff line a finding is anchored to ("" when it is not in `files`)."""
    for f in files:
        if f.path != finding.path:
            continue
        for line in f.lines():
            if finding.new_line is not None and line.new_line == finding.new_line:
                return line.text
            if finding.new_line is None and line.old_line == finding.old_line:
                return line.text
    return ""


def split_suppressed(
    findings: Sequence[Finding],
    *,
    fingerprints: Collection[str],
    keys: Collection[str],
    key_of: Callable[[Finding], str],
) -> tuple[tuple[Finding, ...], int]:
    """(the findings to post, how many were suppressed)."""
    kept = tuple(f for f in findings if f.fingerprint not in fingerprints and key_of(f) not in keys)
    return kept, len(findings) - len(kept)


def files_to_review(files: Sequence[FileDiff], changed: Collection[str]) -> list[FileDiff]:
    """The merge request's files that a push since the last review touched (by either path)."""
    return [f for f in files if f.path in changed or f.old_path in changed]


@dataclass(frozen=True)
class Coverage:
    """What one review covered, for its summary."""

    # "full" (first review or asked for), "incremental", "fallback" (history rewritten),
    # "uncompared" (the forge refused the comparison)
    mode: str
    head_sha: str = ""
    since_sha: str = ""  # the head the previous review covered
    files_reviewed: int = 0
    files_total: int = 0
    suppressed: int = 0
    resolved: int = 0  # Revisor threads resolved because a push changed their code
    asked: bool = False  # `/revisor full-review`


def summary_lines(coverage: Coverage | None) -> list[str]:
    """The summary's lines about scope, earlier reviews and suppressed findings."""
    if coverage is None:
        return []
    c, out = coverage, []
    if c.mode == "incremental":
        out.append(
            f"**This review covered** the changes since `{c.since_sha[:12]}`: "
            f"{c.files_reviewed} of {c.files_total} changed file(s); earlier reviews covered "
            "the rest, and their findings whose lines still exist stay open."
        )
    elif c.mode == "fallback":
        out.append(
            f"**This review covered** the whole merge request: the previously reviewed commit "
            f"`{c.since_sha[:12]}` is no longer in its history (force-push or rebase), so "
            "nothing could be carried over."
        )
    elif c.mode == "uncompared":
        out.append(
            f"**This review covered** the whole merge request: the Git server could not compare "
            f"the previously reviewed commit `{c.since_sha[:12]}` with this one."
        )
    elif c.asked:
        out.append("**This review covered** the whole merge request, as asked (`full-review`).")
    if c.suppressed:
        out.append(
            f"Suppressed: {c.suppressed} finding(s) people asked Revisor not to raise in this "
            "repository."
        )
    if c.resolved:
        out.append(f"Resolved: {c.resolved} earlier Revisor thread(s) whose code was changed.")
    return [*out, ""] if out else []
