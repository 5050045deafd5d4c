"""Tie each finding to a line that is really in the diff.

A comment on any other line is refused by the forge (GitLab's `line_code can't be blank`) or
lands on the wrong code. Small models are poor at copying line numbers and good at copying
code, so the model quotes the line it means (`code`) and the number is only a hint:

1. the quoted line, found in the file's diff: exact text, then with whitespace collapsed, then
   the most similar line (`SIMILAR_AT_LEAST`); among equal matches the one nearest the model's
   number, an added line before others;
2. without a usable quote: the exact (side, line) the model gave; else, within `max_distance`,
   the nearest changed line of that file;
3. anything else is dropped and counted.

A finding whose path is not in the diff is placed by its quote when the quote is found in
exactly one file. `moved` counts findings placed on another line than the number the model
gave; `by_quote` those placed by their quote.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from revisor.domain import DiffLine, FileDiff, Finding, LineKind
from revisor.review.parse import RawFinding
from revisor.review.suggest import NOT_ON_NEW_LINE

__all__ = ["SIMILAR_AT_LEAST", "AnchorOutcome", "anchor", "find_quoted"]

SIMILAR_AT_LEAST = 0.8
_COMPARED_CHARS = 300
# A quote copied with our own rendering in front of it: "   52   55 + code" or "+ code".
_RENDERED_PREFIX = re.compile(r"^\s*(?:\d+\s+){0,2}[+\- ](?=\s)|^\s*\d+\s+\d+\s+")
_SPACE = re.compile(r"\s+")
_KIND_RANK = {LineKind.ADDED: 0, LineKind.REMOVED: 1, LineKind.CONTEXT: 2}


@dataclass(frozen=True)
class AnchorOutcome:
    findings: tuple[Finding, ...]
    line_texts: tuple[str, ...]  # the anchored line's text, per finding (for fingerprints)
    moved: int
    dropped: int
    by_quote: int = 0


def _resolve_path(path: str, files: Sequence[FileDiff]) -> FileDiff | None:
    for file in files:
        if path in (file.new_path, file.old_path):
            return file
    # Models sometimes drop leading directories; accept it only when unambiguous.
    matches = [f for f in files if f.new_path.endswith("/" + path)]
    return matches[0] if len(matches) == 1 else None


def _quote_line(code: str) -> str:
    """The line a quote stands for: its first non-blank line, without our rendering."""
    for raw in code.split("\n"):
        line = _RENDERED_PREFIX.sub("", raw, count=1) if raw.strip() else ""
        if line.strip():
            return line.strip()[:_COMPARED_CHARS]
    return ""


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text.strip())[:_COMPARED_CHARS]


def _number(line: DiffLine) -> int:
    return line.new_line if line.new_line is not None else (line.old_line or 0)


def _best(candidates: Sequence[DiffLine], hint: int) -> DiffLine:
    return min(
        candidates,
        key=lambda ln: (abs(_number(ln) - hint) if hint else 0, _KIND_RANK[ln.kind], _number(ln)),
    )


def find_quoted(code: str, file: FileDiff, hint: int = 0) -> DiffLine | None:
    """The line of `file`'s diff that `code` quotes (see the module doc), or None."""
    quote = _quote_line(code)
    if len(quote) < 3:  # "}" or ")" says nothing about where it is
        return None
    lines = file.lines()
    exact = [ln for ln in lines if ln.text.strip()[:_COMPARED_CHARS] == quote]
    if exact:
        return _best(exact, hint)
    squashed = _squash(quote)
    normalised = [ln for ln in lines if _squash(ln.text) == squashed]
    if normalised:
        return _best(normalised, hint)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(squashed)
    scored: list[tuple[float, DiffLine]] = []
    for ln in lines:
        text = _squash(ln.text)
        if not text:
            continue
        matcher.set_seq1(text)
        if matcher.real_quick_ratio() < SIMILAR_AT_LEAST:
            continue
        if matcher.quick_ratio() < SIMILAR_AT_LEAST:
            continue
        ratio = matcher.ratio()
        if ratio >= SIMILAR_AT_LEAST:
            scored.append((ratio, ln))
    if not scored:
        return None
    top = max(ratio for ratio, _ in scored)
    return _best([ln for ratio, ln in scored if ratio == top], hint)


def _by_number(raw: RawFinding, file: FileDiff, max_distance: int) -> tuple[DiffLine | None, bool]:
    """(line, exact) from the model's line number and side."""
    lines = file.lines()
    if raw.side == "new":
        exact = [ln for ln in lines if ln.new_line == raw.line and ln.kind is not LineKind.REMOVED]
        changed = [(ln.new_line, ln) for ln in lines if ln.kind is LineKind.ADDED]
    else:
        exact = [ln for ln in lines if ln.old_line == raw.line and ln.kind is not LineKind.ADDED]
        changed = [(ln.old_line, ln) for ln in lines if ln.kind is LineKind.REMOVED]
    if exact:
        return exact[0], True
    near = [
        (abs(number - raw.line), number, ln)
        for number, ln in changed
        if number is not None and abs(number - raw.line) <= max_distance
    ]
    if near:
        return min(near, key=lambda t: (t[0], t[1]))[2], False
    return None, False


def _anchored(raw: RawFinding, file: FileDiff, line: DiffLine, *, exact: bool) -> Finding:
    """The finding on `line`. Its suggestion replaces the lines the model named, by default the
    line it commented on: the anchored line when it was found there, else the model's own line
    (which is not in the diff, so `review.suggest` leaves that suggestion out)."""
    on_new = line.kind is not LineKind.REMOVED
    default = (line.new_line if exact else raw.line) if on_new else None
    first = raw.suggestion_first if raw.suggestion_first is not None else default
    last = raw.suggestion_last if raw.suggestion_last is not None else default
    left_out = "" if on_new or raw.suggestion is None else NOT_ON_NEW_LINE
    return Finding(
        path=file.path,
        old_path=file.old_path,
        old_line=line.old_line if line.kind is not LineKind.ADDED else None,
        new_line=line.new_line if line.kind is not LineKind.REMOVED else None,
        severity=raw.severity,
        title=raw.title,
        body=raw.body,
        # A suggestion replaces a line of the new file; it makes no sense on a removed line.
        suggestion=raw.suggestion if on_new else None,
        suggestion_first=first if on_new and raw.suggestion is not None else None,
        suggestion_last=last if on_new and raw.suggestion is not None else None,
        suggestion_left_out=left_out,
    )


def _file_by_quote(code: str, files: Sequence[FileDiff]) -> FileDiff | None:
    holding = [f for f in files if find_quoted(code, f) is not None]
    return holding[0] if len(holding) == 1 else None


def anchor(
    raw_findings: Sequence[RawFinding], files: Sequence[FileDiff], *, max_distance: int = 3
) -> AnchorOutcome:
    """Anchor findings to diff lines of `files` (the diff the model saw)."""
    findings: list[Finding] = []
    texts: list[str] = []
    moved = dropped = by_quote = 0
    for raw in raw_findings:
        file = _resolve_path(raw.path, files)
        if file is None and raw.code:
            file = _file_by_quote(raw.code, files)
        if file is None:
            dropped += 1
            continue
        target = find_quoted(raw.code, file, raw.line) if raw.code else None
        if target is not None:
            by_quote += 1
            number = target.new_line if raw.side == "new" else target.old_line
            exact, placed = number == raw.line, True
        else:
            target, exact = _by_number(raw, file, max_distance) if raw.line else (None, False)
            placed = exact
        if target is None:
            dropped += 1
            continue
        if not exact:
            moved += 1
        findings.append(_anchored(raw, file, target, exact=placed))
        texts.append(target.text)
    return AnchorOutcome(tuple(findings), tuple(texts), moved, dropped, by_quote)
