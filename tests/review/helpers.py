"""Builders shared by the review tests."""

from __future__ import annotations

from revisor.domain import DiffLine, FileDiff, FileStatus, Hunk, LineKind


def added_file(path: str, lines: list[str], start: int = 1) -> FileDiff:
    """A new file whose diff adds `lines`."""
    body = tuple(DiffLine(LineKind.ADDED, None, start + i, text) for i, text in enumerate(lines))
    hunk = Hunk(0, 0, start, len(lines), "", body)
    return FileDiff(path, path, FileStatus.ADDED, (hunk,))


def modified_file(path: str, hunks: list[Hunk]) -> FileDiff:
    return FileDiff(path, path, FileStatus.MODIFIED, tuple(hunks))


def hunk(old_start: int, new_start: int, spec: list[tuple[str, str]], section: str = "") -> Hunk:
    """Build a hunk from [(sign, text)] with correct numbers."""
    old_no, new_no = old_start, new_start
    lines: list[DiffLine] = []
    for sign, text in spec:
        kind = LineKind(sign)
        if kind is LineKind.CONTEXT:
            lines.append(DiffLine(kind, old_no, new_no, text))
            old_no, new_no = old_no + 1, new_no + 1
        elif kind is LineKind.REMOVED:
            lines.append(DiffLine(kind, old_no, None, text))
            old_no += 1
        else:
            lines.append(DiffLine(kind, None, new_no, text))
            new_no += 1
    old_count = sum(1 for line in lines if line.kind is not LineKind.ADDED)
    new_count = sum(1 for line in lines if line.kind is not LineKind.REMOVED)
    return Hunk(old_start, old_count, new_start, new_count, section, tuple(lines))
