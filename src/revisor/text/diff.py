"""Parse unified diffs into `FileDiff` / `Hunk` / `DiffLine` with old and new line numbers.

Two entry points, because the forges hand us diffs in two shapes:

- `parse_hunks(patch)`: one file's hunks, starting at `@@` (GitLab's per-file `diff` field,
  Gitea's per-file patch once its headers are stripped). The caller knows the paths and status.
- `parse_unified(text)`: a whole `git diff` / `git format-patch` / `diff -u` output, with
  new, deleted, renamed, copied and binary files, mode changes and C-quoted paths.

We parse by the counts in each `@@ -a,b +c,d @@` header rather than by scanning for the next
header, so a removed line that happens to read `-- foo` or an added `++ bar` is never mistaken for
a file header. Everything is a single forward pass over the lines: no backtracking, no regex on
whole hunks, so arbitrary input can't make it hang. Anything that is not a diff raises
`ValueError` with the (1-based) line number where it went wrong.

Lines are split on "\\n" only (not `str.splitlines`), because code may legitimately contain
form feeds, U+2028 and friends, and a trailing "\\r" of a CRLF file is content, not newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from revisor.domain import DiffLine, FileDiff, FileStatus, Hunk, LineKind

__all__ = ["parse_hunks", "parse_unified"]

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_NO_NEWLINE = "\\"  # "\ No newline at end of file" (the text is localised by some tools)
_DEV_NULL = "/dev/null"
_MAX_LINE_NUMBER = 10**9  # more than any real file; keeps absurd headers from creating huge ints
_KIND = {" ": LineKind.CONTEXT, "-": LineKind.REMOVED, "+": LineKind.ADDED}


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _header(line: str) -> str:
    """A header line without a Windows line ending (a whole diff saved with CRLF)."""
    return line[:-1] if line.endswith("\r") else line


def _parse_hunk_header(line: str, lineno: int) -> tuple[int, int, int, int, str]:
    match = _HUNK_RE.match(_header(line))
    if match is None:
        raise ValueError(f"line {lineno}: malformed hunk header {line[:80]!r}")
    old_start, old_count, new_start, new_count, section = match.groups()
    numbers = (
        int(old_start),
        1 if old_count is None else int(old_count),
        int(new_start),
        1 if new_count is None else int(new_count),
    )
    if any(n > _MAX_LINE_NUMBER for n in numbers):
        raise ValueError(f"line {lineno}: hunk header numbers out of range {line[:80]!r}")
    return (*numbers, section)


def _read_hunk(lines: list[str], pos: int) -> tuple[Hunk, int]:
    """Parse the hunk whose header is at `lines[pos]`; return it and the index after it."""
    old_start, old_count, new_start, new_count, section = _parse_hunk_header(lines[pos], pos + 1)
    old_no, new_no = old_start, new_start
    old_left, new_left = old_count, new_count
    body: list[DiffLine] = []
    pos += 1
    while old_left > 0 or new_left > 0:
        if pos >= len(lines):
            raise ValueError(
                f"line {pos}: hunk ended early ({old_left} old and {new_left} new lines missing)"
            )
        line = lines[pos]
        # Some editors and mail clients strip the single space of an empty context line.
        prefix, text = (line[0], line[1:]) if line else (" ", "")
        if prefix == _NO_NEWLINE:
            pos += 1
            continue
        kind = _KIND.get(prefix)
        if kind is None:
            raise ValueError(
                f"line {pos + 1}: expected a diff line (' ', '-', '+') inside a hunk, "
                f"got {line[:80]!r} ({old_left} old and {new_left} new lines still expected)"
            )
        if kind is LineKind.CONTEXT:
            if old_left == 0 or new_left == 0:
                raise ValueError(f"line {pos + 1}: context line beyond the hunk's counts")
            body.append(DiffLine(kind, old_no, new_no, text))
            old_no, new_no, old_left, new_left = old_no + 1, new_no + 1, old_left - 1, new_left - 1
        elif kind is LineKind.REMOVED:
            if old_left == 0:
                raise ValueError(f"line {pos + 1}: removed line beyond the hunk's old count")
            body.append(DiffLine(kind, old_no, None, text))
            old_no, old_left = old_no + 1, old_left - 1
        else:
            if new_left == 0:
                raise ValueError(f"line {pos + 1}: added line beyond the hunk's new count")
            body.append(DiffLine(kind, None, new_no, text))
            new_no, new_left = new_no + 1, new_left - 1
        pos += 1
    # "\ No newline at end of file" after the last line of the hunk.
    while pos < len(lines) and lines[pos].startswith(_NO_NEWLINE):
        pos += 1
    hunk = Hunk(old_start, old_count, new_start, new_count, section, tuple(body))
    return hunk, pos


def parse_hunks(patch: str) -> tuple[Hunk, ...]:
    """Parse one file's hunks (text starting at `@@`). Empty text -> no hunks.

    GitLab sends an empty `diff` for binary files, pure renames and mode changes; a
    "Binary files ... differ" line is accepted too and also yields no hunks.
    """
    lines = _split_lines(patch)
    if not lines or (len(lines) == 1 and _header(lines[0]).startswith("Binary files ")):
        return ()
    hunks: list[Hunk] = []
    pos = 0
    while pos < len(lines):
        if not lines[pos].startswith("@@"):
            raise ValueError(
                f"line {pos + 1}: expected a hunk header '@@ ...', got {lines[pos][:80]!r}"
            )
        hunk, pos = _read_hunk(lines, pos)
        hunks.append(hunk)
    return tuple(hunks)


# --- whole `git diff` ------------------------------------------------------------------------

_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(path: str) -> str:
    """Undo git's C-style quoting ("a/caf\\303\\251.txt") of paths with unusual characters."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    inner = path[1:-1]
    out = bytearray()
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= len(inner):
            raise ValueError(f"bad escape at the end of quoted path {path!r}")
        nxt = inner[i + 1]
        if nxt in "01234567":
            digits = inner[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError(f"bad octal escape in quoted path {path!r}")
            out.append(int(digits, 8) & 0xFF)
            i += 4
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise ValueError(f"unknown escape \\{nxt} in quoted path {path!r}")
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str) -> str:
    """`a/x` -> `x`; leave /dev/null and prefix-less (`--no-prefix`) paths alone."""
    if path == _DEV_NULL:
        return path
    if len(path) > 2 and path[1] == "/" and path[0] in "abciwo12":
        return path[2:]
    return path


def _marker_path(value: str) -> str:
    """The path on a `--- ` / `+++ ` line: unquote, drop a `diff -u` timestamp after a tab."""
    value = _header(value)
    if value.startswith('"'):
        end = _closing_quote(value)
        return _strip_prefix(_unquote(value[: end + 1]))
    if "\t" in value:
        value = value.split("\t", 1)[0]
    return _strip_prefix(value.rstrip(" "))


def _closing_quote(value: str) -> int:
    i = 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == '"':
            return i
        i += 1
    raise ValueError(f"unterminated quoted path {value[:80]!r}")


def _git_header_paths(rest: str) -> tuple[str, str]:
    """Paths from `diff --git <rest>`; only a best guess when unquoted names contain spaces.

    The `---`/`+++` and `rename from/to` lines that follow take precedence when present.
    """
    if rest.startswith('"'):
        end = _closing_quote(rest)
        old, tail = rest[: end + 1], rest[end + 1 :].lstrip(" ")
        return _strip_prefix(_unquote(old)), _strip_prefix(_unquote(tail))
    if rest.endswith('"'):
        start = rest.rfind(' "')
        if start < 0:
            raise ValueError(f"cannot split paths in 'diff --git {rest[:80]}'")
        return _strip_prefix(rest[:start]), _strip_prefix(_unquote(rest[start + 1 :]))
    # Same name on both sides ("a/X b/X") is by far the common case, and unambiguous.
    n = (len(rest) - 5) // 2
    if n > 0 and len(rest) == 2 * n + 5 and rest[2 : 2 + n] == rest[5 + n :]:
        return rest[2 : 2 + n], rest[5 + n :]
    old, sep, new = rest.partition(" b/")
    if sep:
        return _strip_prefix(old), new
    old, sep, new = rest.partition(" ")
    if not sep:
        raise ValueError(f"cannot find two paths in 'diff --git {rest[:80]}'")
    return _strip_prefix(old), _strip_prefix(new)


@dataclass
class _FileBuilder:
    old_path: str = ""
    new_path: str = ""
    added: bool = False
    deleted: bool = False
    renamed: bool = False
    binary: bool = False
    hunks: list[Hunk] = field(default_factory=list)

    def build(self, lineno: int) -> FileDiff:
        old, new = self.old_path, self.new_path
        if old == _DEV_NULL:
            self.added, old = True, new
        if new == _DEV_NULL:
            self.deleted, new = True, old
        if not old and not new:
            raise ValueError(f"line {lineno}: file diff without any path")
        old, new = old or new, new or old
        if self.deleted:
            status = FileStatus.DELETED
        elif self.added:
            status = FileStatus.ADDED
        elif self.renamed or old != new:
            status = FileStatus.RENAMED
        else:
            status = FileStatus.MODIFIED
        return FileDiff(old, new, status, tuple(self.hunks), binary=self.binary)


def parse_unified(text: str) -> list[FileDiff]:
    """Parse a whole unified diff (git or plain `diff -u`) into one `FileDiff` per file.

    Empty or whitespace-only text is an empty diff. Text before the first file header (a
    `format-patch` mail header, a commit message) is skipped, as `git apply` does; text with no
    file header at all raises `ValueError`, as does a hunk that does not add up.
    """
    if not text.strip():
        return []
    lines = _split_lines(text)
    files: list[FileDiff] = []
    current: _FileBuilder | None = None
    current_line = 0
    pos = 0

    def finish() -> None:
        if current is not None:
            files.append(current.build(current_line))

    while pos < len(lines):
        line = _header(lines[pos])
        if line.startswith("diff --git "):
            finish()
            current, current_line = _FileBuilder(), pos + 1
            current.old_path, current.new_path = _git_header_paths(line[len("diff --git ") :])
            pos += 1
        elif line.startswith(("diff --cc ", "diff --combined ")):
            raise ValueError(f"line {pos + 1}: combined (merge) diffs are not supported")
        elif line.startswith("--- ") and pos + 1 < len(lines) and lines[pos + 1].startswith("+++ "):
            # Either the markers of the current `diff --git` file, or a plain `diff -u` file.
            if current is None or current.hunks:
                finish()
                current, current_line = _FileBuilder(), pos + 1
            current.old_path = _marker_path(line[4:])
            current.new_path = _marker_path(lines[pos + 1][4:])
            pos += 2
        elif line.startswith("@@"):
            if current is None:
                raise ValueError(f"line {pos + 1}: hunk before any file header")
            hunk, pos = _read_hunk(lines, pos)
            current.hunks.append(hunk)
        elif current is not None and not current.hunks:
            _extended_header(current, line)
            pos += 1
        else:
            # Between files: a format-patch preamble or signature ("-- \n2.43.0"); skip it.
            pos += 1
    finish()
    if not files:
        raise ValueError("no file diff found (expected 'diff --git' or '--- '/'+++ ' headers)")
    return files


def _extended_header(current: _FileBuilder, line: str) -> None:
    """Apply one git extended header line; unknown lines (index, modes) are ignored."""
    if line.startswith("new file mode"):
        current.added = True
    elif line.startswith("deleted file mode"):
        current.deleted = True
    elif line.startswith(("rename from ", "copy from ")):
        current.old_path = _unquote(line.split(" ", 2)[2])
        current.renamed = line.startswith("rename")
    elif line.startswith(("rename to ", "copy to ")):
        current.new_path = _unquote(line.split(" ", 2)[2])
        if line.startswith("copy"):
            current.added = True  # a copy is a new file as far as review is concerned
    elif line.startswith("Binary files ") or line == "GIT binary patch":
        current.binary = True
