"""Context beyond the diff: each hunk widened to its enclosing function or class.

Three lines of context rarely show a small model what it needs (is `user` checked for None two
lines above the hunk? is this loop inside a lock?). `widen` takes a file's diff and its text at
the head revision and returns the same diff with each hunk's unchanged context grown to the
enclosing definition (Python `def`/`class`, Go `func`, JS/TS functions and methods, Java
methods and classes), or to the whole file when the file is small. Only unchanged lines are
added: changed lines, and every line number, stay exactly as the forge gave them, so anchoring
and positions are unaffected (the engine still anchors findings to the forge's own diff).

Pure and bounded: one pass to align the head text with the diff, a scan of at most
`MAX_SCAN_LINES` up and down per hunk. If the head text does not agree with the diff (the forge
served another revision), the file is returned unchanged: wrong context is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from revisor.domain import DiffLine, FileDiff, FileStatus, Hunk, LineKind
from revisor.review.linear import compile_linear

__all__ = ["MAX_SCAN_LINES", "WHOLE_FILE_LINES", "enclosing_range", "widen"]

WHOLE_FILE_LINES = 150  # a head file this short is shown whole
MAX_SCAN_LINES = 60  # how far up (and down) to look for the enclosing definition
MAX_EXTRA_LINES = 120  # context lines one hunk may gain, in all

_PYTHON_DEF = re.compile(r"^\s*(?:async\s+def|def|class)\s+\w")
# Head files are untrusted text: the long definition pattern runs on RE2, in linear time.
_BRACE_DEF = compile_linear(
    "|".join(
        (
            r"^\s*func\s",  # Go
            r"^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\b",  # JS/TS
            r"^\s*(?:export\s+)?(?:abstract\s+)?class\s+\w",  # JS/TS/Java
            r"^\s*(?:export\s+)?(?:const|let|var)\s+\w+\s*=\s*(?:async\s*)?"
            r"(?:\([^)]*\)|\w+)\s*(?::[^=]+)?=>",  # arrow function
            r"^\s*(?:(?:public|private|protected|static|final|abstract|synchronized|async|"
            r"override|readonly)\s+)*(?:[\w.<>\[\],?]+\s+)?\w+\s*\([^;]*\)\s*"
            r"(?::\s*[^{;]+)?(?:throws\s+[\w.,\s]+)?\{?\s*$",  # method
        )
    )
)
_CONTROL = re.compile(r"^\s*(?:if|for|while|switch|catch|else|try|do|return|synchronized)\b")


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_definition(line: str, python: bool) -> bool:
    if python:
        return bool(_PYTHON_DEF.match(line))
    return _BRACE_DEF.search(line) is not None and not _CONTROL.match(line)


def _python_end(lines: Sequence[str], start: int, last: int) -> int:
    """The last line of the Python block opened at `start` (0-based), scanning from `last`."""
    base = _indent(lines[start])
    end = last
    for i in range(last + 1, min(len(lines), last + 1 + MAX_SCAN_LINES)):
        text = lines[i]
        if text.strip() and _indent(text) <= base:
            break
        end = i
    while end > last and not lines[end].strip():
        end -= 1
    return end


def _brace_end(lines: Sequence[str], start: int, last: int) -> int:
    """The line that closes the brace block opened at or after `start`, if found near `last`."""
    depth = 0
    opened = False
    limit = min(len(lines), last + 1 + MAX_SCAN_LINES)
    for i in range(start, limit):
        for ch in lines[i]:
            if ch == "{":
                depth += 1
                opened = True
            elif ch == "}":
                depth -= 1
        if opened and depth <= 0 and i >= last:
            return i
    return min(last + 3, len(lines) - 1)


def enclosing_range(lines: Sequence[str], first: int, last: int, path: str) -> tuple[int, int]:
    """0-based inclusive range of the definition around lines `first`..`last` (0-based), or a
    small window when there is none within reach."""
    python = _is_python(path)
    changed_indent = min(
        (_indent(lines[i]) for i in range(first, last + 1) if lines[i].strip()), default=0
    )
    start = None
    for i in range(first, max(-1, first - MAX_SCAN_LINES), -1):
        text = lines[i]
        if _is_definition(text, python) and (_indent(text) < changed_indent or i == first):
            start = i
            break
    if start is None:
        return max(0, first - 3), min(len(lines) - 1, last + 3)
    end = _python_end(lines, start, last) if python else _brace_end(lines, start, last)
    return start, max(end, last)


def _aligned(file: FileDiff, head: Sequence[str]) -> list[DiffLine] | None:
    """The whole head file as diff lines (context, with the diff's added and removed lines in
    place), or None when the head text disagrees with the diff."""
    out: list[DiffLine] = []
    offset = 0  # old_line - new_line for unchanged lines after the hunks seen so far
    cursor = 1  # next head line (1-based) not yet emitted
    for hunk in file.hunks:
        for number in range(cursor, hunk.new_start if hunk.new_count else hunk.new_start + 1):
            if number > len(head):
                return None
            out.append(DiffLine(LineKind.CONTEXT, number + offset, number, head[number - 1]))
        for line in hunk.lines:
            if line.new_line is not None:
                if line.new_line > len(head) or head[line.new_line - 1] != line.text:
                    return None
                cursor = line.new_line + 1
            out.append(line)
        offset = (hunk.old_start + hunk.old_count) - (hunk.new_start + hunk.new_count)
        cursor = max(cursor, hunk.new_start + hunk.new_count)
    for number in range(cursor, len(head) + 1):
        out.append(DiffLine(LineKind.CONTEXT, number + offset, number, head[number - 1]))
    return out


def _after_removal(hunk: Hunk) -> int:
    """The new line number just after a hunk's first removed line (1 at least)."""
    seen_removal = False
    for line in hunk.lines:
        if line.kind is LineKind.REMOVED:
            seen_removal = True
        elif seen_removal and line.new_line is not None:
            return line.new_line
    return max(1, hunk.new_start + hunk.new_count)


def _windows(file: FileDiff, head: Sequence[str]) -> list[tuple[int, int]]:
    """1-based inclusive new-line ranges to show, merged."""
    if len(head) <= WHOLE_FILE_LINES:
        return [(1, max(1, len(head)))]
    ranges: list[tuple[int, int]] = []
    for hunk in file.hunks:
        shown = [ln.new_line for ln in hunk.lines if ln.new_line is not None]
        added = [ln.new_line for ln in hunk.lines if ln.kind is LineKind.ADDED and ln.new_line]
        # The definition around the change itself (a removal sits before the line after it)
        around = added or [_after_removal(hunk)]
        first, last = min(around) - 1, min(max(around), len(head)) - 1
        start, end = enclosing_range(head, max(0, first), max(0, last), file.path)
        if shown:  # the forge's own context lines stay in view
            start, end = min(start, min(shown) - 1), max(end, max(shown) - 1)
        extra = (first - start) + (end - last)
        if extra > MAX_EXTRA_LINES:  # a huge class: keep the part nearest the change
            half = MAX_EXTRA_LINES // 2
            start, end = max(start, first - half), min(end, last + half)
        ranges.append((start + 1, end + 1))
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _hunk(lines: Sequence[DiffLine]) -> Hunk:
    olds = [ln.old_line for ln in lines if ln.old_line is not None]
    news = [ln.new_line for ln in lines if ln.new_line is not None]
    old_count = sum(1 for ln in lines if ln.kind is not LineKind.ADDED)
    new_count = sum(1 for ln in lines if ln.kind is not LineKind.REMOVED)
    return Hunk(
        old_start=olds[0] if olds else 0,
        old_count=old_count,
        new_start=news[0] if news else 0,
        new_count=new_count,
        section="",
        lines=tuple(lines),
    )


def widen(file: FileDiff, head_text: str | None) -> FileDiff:
    """`file` with each hunk's context grown to its enclosing definition (see module doc)."""
    if head_text is None or not file.hunks or file.status is FileStatus.DELETED or file.binary:
        return file
    head = head_text.split("\n")
    if head and head[-1] == "":
        head.pop()
    aligned = _aligned(file, head)
    if aligned is None:
        return file
    windows = _windows(file, head)
    # Each line's place in the head file: its own new number, or for a removed line the new
    # number of the line after it (clamped to the file), so it shows with its neighbours.
    places: list[int] = []
    following = len(head)
    for line in reversed(aligned):
        if line.new_line is not None:
            following = line.new_line
        places.append(min(following, max(1, len(head))))
    places.reverse()
    hunks: list[Hunk] = []
    current: list[DiffLine] = []
    current_window: int | None = None
    for line, place in zip(aligned, places, strict=True):
        window = next((i for i, (a, b) in enumerate(windows) if a <= place <= b), None)
        if window is None and line.kind is not LineKind.CONTEXT:
            window = current_window  # never lose a changed line, whatever the windows say
        if window is None:
            continue
        if window != current_window and current:
            hunks.append(_hunk(current))
            current = []
        current_window = window
        current.append(line)
    if current:
        hunks.append(_hunk(current))
    return replace(file, hunks=tuple(hunks))
