"""One deterministic sentence about what a file's change does, for the summary.

Used for a reviewed file the model wrote no note for (`ReviewResult.file_notes`): the status,
the added and removed line counts, and the functions, classes and methods the change touches,
found without a model from each hunk's `section` (the enclosing definition the forge's diff names
after the second `@@`) and from added definition lines (`def`, `func`, `function`, `class`,
method signatures) in Python, JavaScript/TypeScript, Go and Java.

The text in a diff is the MR author's, so only ASCII identifiers are taken from it (no other
character of the code reaches the sentence), each shown as a code span; the old path of a
renamed file is a code span too. The sentence is markdown that is inert as it stands.
"""

from __future__ import annotations

from collections.abc import Iterable

from revisor.domain import FileDiff, FileStatus, LineKind
from revisor.review.linear import LinearRegex, compile_linear
from revisor.review.render import code_span

__all__ = ["describe_change", "touched_names"]

MAX_NAMES = 5  # names shown per list; the rest are counted
_IDENT = r"[A-Za-z_$][A-Za-z0-9_$]*"
_NOT_NAMES = frozenset(
    {"if", "for", "while", "switch", "catch", "return", "function", "new", "else", "do", "try",
     "with", "await", "typeof", "super", "this", "constructor", "synchronized"}
)  # fmt: skip

_PYTHON = (
    compile_linear(rf"^\s*(?:async\s+)?def\s+({_IDENT})"),
    compile_linear(rf"^\s*class\s+({_IDENT})"),
)
_JS = (
    compile_linear(rf"^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*({_IDENT})"),
    compile_linear(rf"^\s*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+({_IDENT})"),
    compile_linear(
        rf"^\s*(?:export\s+)?(?:const|let|var)\s+({_IDENT})\s*(?::[^=]*)?="
        rf"\s*(?:async\s+)?(?:function\b|\([^()]*\)\s*(?::[^=]*)?=>|{_IDENT}\s*=>)"
    ),
    compile_linear(
        r"^\s*(?:(?:public|private|protected|static|async|readonly|override|get|set)\s+)*"
        rf"({_IDENT})\s*(?:<[^<>]*>)?\s*\([^()]*\)\s*(?::\s*[^{{;]+)?\{{\s*$"
    ),
)
_GO = (
    compile_linear(rf"^func\s+(?:\([^()]*\)\s*)?({_IDENT})"),
    compile_linear(rf"^type\s+({_IDENT})\s+(?:struct|interface)\b"),
)
_JAVA = (
    compile_linear(
        r"^\s*(?:(?:public|private|protected|static|final|abstract|sealed|non-sealed)\s+)*"
        rf"(?:class|interface|enum|record|@interface)\s+({_IDENT})"
    ),
    compile_linear(
        r"^\s*(?:(?:public|private|protected|static|final|abstract|synchronized|native|default)"
        rf"\s+)+(?:<[^<>]*>\s*)?[A-Za-z0-9_$.<>\[\], ?]+\s+({_IDENT})\s*\("
    ),
    compile_linear(rf"^\s*(?:(?:public|private|protected)\s+)({_IDENT})\s*\("),  # constructor
)
_LANGUAGES: dict[str, tuple[LinearRegex, ...]] = {
    ".py": _PYTHON,
    ".pyi": _PYTHON,
    ".js": _JS,
    ".jsx": _JS,
    ".mjs": _JS,
    ".cjs": _JS,
    ".ts": _JS,
    ".tsx": _JS,
    ".mts": _JS,
    ".cts": _JS,
    ".go": _GO,
    ".java": _JAVA,
}
MAX_SCANNED_CHARS = 400  # of a line: a definition's name is near its start


def _patterns(path: str) -> tuple[LinearRegex, ...]:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return _LANGUAGES.get(name[dot:].lower(), ()) if dot > 0 else ()


def _name(line: str, patterns: tuple[LinearRegex, ...]) -> str | None:
    head = line[:MAX_SCANNED_CHARS]
    for pattern in patterns:
        match = pattern.search(head)
        if match is None:
            continue
        name, end = match.group(1), match.span(1)[1]
        cut = end < len(head) and (head[end].isalnum() or head[end] == "_")  # a non-ASCII name
        if name and not cut and name not in _NOT_NAMES:
            return name
    return None


def _unique(names: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


def touched_names(file: FileDiff) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names defined on added lines, names of the enclosing definitions changed), in diff
    order, each without duplicates and without the names of the first."""
    patterns = _patterns(file.path)
    if not patterns:
        return (), ()
    added = _unique(
        _name(line.text, patterns)
        for hunk in file.hunks
        for line in hunk.lines
        if line.kind is LineKind.ADDED
    )
    changed = _unique(_name(hunk.section, patterns) for hunk in file.hunks)
    return tuple(added), tuple(n for n in changed if n not in added)


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(code_span(n) for n in names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _status(file: FileDiff) -> str:
    if file.status is FileStatus.ADDED:
        return "New file"
    if file.status is FileStatus.DELETED:
        return "Deleted"
    if file.status is FileStatus.RENAMED:
        return f"Renamed from {code_span(file.old_path)}"
    return "Modified"


def describe_change(file: FileDiff) -> str:
    """A sentence such as "Modified, +12/-3 lines; adds `parse`; changes `Runner.start`."."""
    if file.binary:
        return f"{_status(file)} (binary file)."
    added = removed = 0
    for line in file.lines():
        added += line.kind is LineKind.ADDED
        removed += line.kind is LineKind.REMOVED
    parts = [f"{_status(file)}, +{added}/-{removed} line{'s' if added + removed != 1 else ''}"]
    if file.status is not FileStatus.DELETED:
        new_names, changed = touched_names(file)
        if new_names:
            parts.append(f"adds {_names(new_names)}")
        if changed:
            parts.append(f"changes {_names(changed)}")
    return "; ".join(parts) + "."
