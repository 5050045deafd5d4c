"""Whether a model's suggested change may be offered for applying, and what it replaces.

A suggestion is posted as a block GitLab applies with one click (`suggestion:-N+M`), or as a
diff on Gitea: it must be code that fits the lines it replaces. A small model once put an
English sentence in one, which would have replaced code with prose. The rules, one function
each, in the order `vet_suggestion` applies them (the first one broken names the reason):

1. it replaces lines of the new file that are in one hunk of the diff, the commented line
   among them, at most 100 above and 100 below it (GitLab's limit): `LINES_NOT_IN_DIFF`;
   and neither they nor it hold what only the model saw (a redaction mark, a hidden character's
   placeholder, a cut line's marker): applying it would write that into the code: `MODEL_ONLY`;
2. it is not empty: `EMPTY`;
3. no line of it opens or closes a code fence (one fence wrapped around the whole suggestion is
   taken off first): `FENCE`;
4. no line has the shape of a command GitLab or Revisor would run (`text.inert`; the renderer
   refuses those too): `COMMAND`;
5. it differs from the lines it replaces, whitespace aside: `UNCHANGED`;
6. it is code. For Python (`.py`, `.pyi`): it compiles in the largest context whose original
   compiles: the head file when its text is given (`compile()`), else the new side of the hunk,
   else the replaced lines (both parsed as statements after dedent): `NOT_COMPILING`, or
   `NOT_CODE` when it also reads as prose. When no context compiles, and for other languages:
   no line outside comments reads as a sentence (`is_prose_line`) unless the replaced lines do
   too, and comments alone do not replace code: `NOT_CODE`.

A suggestion without indentation for an indented line gets that line's indentation first (the
model wrote the statement, not its place), and the checks see it so.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from revisor.domain import FileDiff, Finding, LineKind
from revisor.review.redact import REDACTION_MARK
from revisor.text.inert import closes_fence, is_fenced_command, opens_fence

__all__ = [
    "MAX_ABOVE",
    "MAX_BELOW",
    "is_prose_line",
    "left_out_counts",
    "replaced_lines",
    "vet_findings",
    "vet_suggestion",
]

MAX_ABOVE = 100  # GitLab applies a suggestion up to 100 lines above the commented line
MAX_BELOW = 100  # ... and 100 below it
MAX_COMPILE_CHARS = 1_000_000  # a head file larger than this is not compiled

NOT_ON_NEW_LINE = "not on a line of the new file"
LINES_NOT_IN_DIFF = "its lines are not in the diff"
MODEL_ONLY = "its lines were redacted or cut for the model"
EMPTY = "empty"
FENCE = "contains a code fence"
COMMAND = "a line of it starts with `/`"
UNCHANGED = "same as the code"
NOT_COMPILING = "does not compile"
NOT_CODE = "not code"

_PYTHON = (".py", ".pyi")
# What the model sees in place of the code: `redact.py`'s marks and placeholders, and the
# marker `plan.cut_line` ends a cut line with.
_MODEL_ONLY = re.compile(
    re.escape(REDACTION_MARK) + r"|\[U\+[0-9A-F]{4,6}\]|\[Revisor cut this line: "
)
_COMMENT = re.compile(r"(?:#(?:[ \t!]|$)|//|/\*|\*(?:[ \t/]|$)|--(?:[ \t]|$)|<!--)")
_TRAILING_COMMENT = re.compile(r"\s(?://|#|--|/\*)(?:\s.*)?$")
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[,.;:!?]?")
_SENTENCE_END = re.compile(r"[A-Za-z][.!?]$")
# English words that are no keyword of a common programming language: two of them on a line
# of words is a sentence.
_ENGLISH = frozenset(
    {
        "also", "avoid", "be", "because", "been", "before", "better", "can", "consider",
        "could", "ensure", "here", "instead", "it", "its", "it's", "make", "may", "might",
        "must", "need", "needs", "our", "please", "prevent", "should", "so", "such", "than",
        "the", "there", "these", "those", "to", "use", "using", "was", "we",
        "were", "which", "will", "would", "you", "your",
    }
)  # fmt: skip


def replaced_lines(finding: Finding, file: FileDiff) -> tuple[str, ...] | None:
    """The new-file text of the lines the suggestion replaces, or None when they are not all in
    one hunk of the diff, do not include the commented line, or reach past GitLab's limits."""
    line = finding.new_line
    if line is None:
        return None
    first = finding.suggestion_first if finding.suggestion_first is not None else line
    last = finding.suggestion_last if finding.suggestion_last is not None else line
    if not first <= line <= last or line - first > MAX_ABOVE or last - line > MAX_BELOW:
        return None
    for hunk in file.hunks:
        head = {
            ln.new_line: ln.text
            for ln in hunk.lines
            if ln.kind is not LineKind.REMOVED and ln.new_line is not None
        }
        if all(number in head for number in range(first, last + 1)):
            return tuple(head[number] for number in range(first, last + 1))
    return None


def holds_model_only_text(code: str, replaces: Sequence[str]) -> bool:
    """Whether the suggestion or the lines it replaces hold text only the model saw."""
    return any(_MODEL_ONLY.search(text) for text in (code, *replaces))


def unwrap_fence(code: str) -> str:
    """The suggestion without one code fence around all of it (small models add one)."""
    lines = code.strip("\n").split("\n")
    if len(lines) >= 2:
        fence = opens_fence(lines[0])
        if fence is not None and closes_fence(lines[-1], fence):
            return "\n".join(lines[1:-1])
    return code


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def reindent(code: str, replaces: Sequence[str]) -> str:
    """The suggestion with the indentation of the first replaced line, when it has none."""
    base = _indent(replaces[0]) if replaces else ""
    lines = code.split("\n")
    body = [line for line in lines if line.strip()]
    if not base or not body or min(len(_indent(line)) for line in body) > 0:
        return code
    return "\n".join(base + line if line.strip() else line for line in lines)


def has_fence(code: str) -> bool:
    """Whether a line of the suggestion opens or closes a fenced code block."""
    return any(opens_fence(line) is not None for line in code.split("\n"))


def has_command(code: str) -> bool:
    return any(is_fenced_command(line) for line in code.split("\n"))


def _normalised(lines: Iterable[str]) -> list[str]:
    return [" ".join(line.split()) for line in lines if line.strip()]


def is_unchanged(code: str, replaces: Sequence[str]) -> bool:
    """Whether the suggestion is the replaced code again, whitespace aside."""
    return _normalised(code.split("\n")) == _normalised(replaces)


def is_comment_line(line: str) -> bool:
    return bool(_COMMENT.match(line.strip()))


def is_prose_line(line: str) -> bool:
    """Whether a line reads as an English sentence: three or more tokens, at least 60% of them
    plain words, and two English words that are no keyword (`_ENGLISH`), or a sentence's end
    (a letter, then `.`, `!` or `?`), or a capitalised first word and one English word. A
    comment at the end of the line is not judged."""
    tokens = _TRAILING_COMMENT.sub("", line).split()
    if len(tokens) < 3:
        return False
    words = [t for t in tokens if _PLAIN_WORD.fullmatch(t)]
    if len(words) * 5 < len(tokens) * 3:
        return False
    english = sum(1 for w in words if w.rstrip(",.;:!?").lower() in _ENGLISH)
    first = tokens[0]
    capitalised = first[0].isupper() and first[1:].rstrip(",.;:!?").islower()
    ends = bool(_SENTENCE_END.search(line.rstrip()))
    return english >= 2 or ends or (capitalised and english >= 1)


def _prose(lines: Iterable[str]) -> bool:
    return any(is_prose_line(line) for line in lines if not is_comment_line(line))


def _only_comments(lines: Sequence[str]) -> bool:
    body = [line for line in lines if line.strip()]
    return bool(body) and all(is_comment_line(line) for line in body)


def reads_as_prose(code: str, replaces: Sequence[str]) -> bool:
    """Prose in place of code: a sentence where the replaced lines have none, or comments only
    where the replaced lines have code."""
    lines = code.split("\n")
    if _prose(lines) and not _prose(replaces):
        return True
    return _only_comments(lines) and not _only_comments(replaces)


def _compiles(source: str, *, whole_file: bool) -> bool:
    """Whether Python source compiles (a whole file) or parses as statements (a fragment).
    Nothing is run: `compile` only builds the code object."""
    try:
        if whole_file:
            compile(source, "<suggestion>", "exec", dont_inherit=True)
        else:
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _contexts(
    finding: Finding, file: FileDiff, replaces: Sequence[str], code: str, head_text: str | None
) -> Iterable[tuple[str, str, bool]]:
    """(original, with the suggestion, whole file?) from the largest context to the smallest."""
    line = finding.new_line or 0
    first = line if finding.suggestion_first is None else finding.suggestion_first
    last = first + len(replaces) - 1
    new = code.split("\n")
    if head_text is not None and len(head_text) <= MAX_COMPILE_CHARS:
        lines = head_text.split("\n")
        if [s.rstrip("\r") for s in lines[first - 1 : last]] == list(replaces):
            yield head_text, "\n".join([*lines[: first - 1], *new, *lines[last:]]), True
    for hunk in file.hunks:
        head = [(ln.new_line, ln.text) for ln in hunk.lines if ln.kind is not LineKind.REMOVED]
        if any(number == line for number, _ in head):
            before = [text for number, text in head if number is not None and number < first]
            after = [text for number, text in head if number is not None and number > last]
            original = textwrap.dedent("\n".join(text for _, text in head))
            yield original, textwrap.dedent("\n".join([*before, *new, *after])), False
    yield textwrap.dedent("\n".join(replaces)), textwrap.dedent(code), False


def python_verdict(
    finding: Finding, file: FileDiff, replaces: Sequence[str], code: str, head_text: str | None
) -> bool | None:
    """Whether the suggestion compiles in the largest context whose original compiles; None
    when no context does (then only the prose rule can judge)."""
    for original, changed, whole_file in _contexts(finding, file, replaces, code, head_text):
        if _compiles(original, whole_file=whole_file):
            return _compiles(changed, whole_file=whole_file)
    return None


def _not_code(
    finding: Finding, file: FileDiff, replaces: Sequence[str], code: str, head_text: str | None
) -> str:
    """The rule-6 reason, or "" when the suggestion is code."""
    if file.path.endswith(_PYTHON):
        verdict = python_verdict(finding, file, replaces, code, head_text)
        if verdict is False:
            return NOT_CODE if reads_as_prose(code, replaces) else NOT_COMPILING
        if verdict is True:
            return ""
    return NOT_CODE if reads_as_prose(code, replaces) else ""


def _left_out(finding: Finding, reason: str) -> Finding:
    return replace(
        finding,
        suggestion=None,
        suggestion_first=None,
        suggestion_last=None,
        suggestion_replaces=(),
        suggestion_left_out=reason,
    )


def vet_suggestion(finding: Finding, file: FileDiff, head_text: str | None = None) -> Finding:
    """The finding with its suggestion checked: kept (with the lines it replaces) or left out
    (with the reason). `head_text`: the file at the head revision, when known."""
    if finding.suggestion is None:
        return finding
    if finding.new_line is None:
        return _left_out(finding, NOT_ON_NEW_LINE)
    replaces = replaced_lines(finding, file)
    if replaces is None:
        return _left_out(finding, LINES_NOT_IN_DIFF)
    written = finding.suggestion.replace("\r\n", "\n").replace("\r", "\n")
    written = unwrap_fence(written).rstrip("\n")
    code = reindent(written, replaces)
    reason = ""
    if holds_model_only_text(code, replaces):
        reason = MODEL_ONLY
    elif not code.strip():
        reason = EMPTY
    elif has_fence(written) or has_fence(code):  # as written: indenting hides a fence
        reason = FENCE
    elif has_command(written) or has_command(code):
        reason = COMMAND
    elif is_unchanged(code, replaces):
        reason = UNCHANGED
    else:
        reason = _not_code(finding, file, replaces, code, head_text)
    if reason:
        return _left_out(finding, reason)
    first = finding.new_line if finding.suggestion_first is None else finding.suggestion_first
    return replace(
        finding,
        suggestion=code,
        suggestion_first=first,
        suggestion_last=first + len(replaces) - 1,
        suggestion_replaces=replaces,
    )


def vet_findings(
    findings: Iterable[Finding],
    files: Sequence[FileDiff],
    read_head: Callable[[str], str | None] | None = None,
) -> tuple[Finding, ...]:
    """`vet_suggestion` for each finding, against the file of the chunk it is on. `read_head`
    gives a file's text at the head revision; it is asked once per Python file with a
    suggestion, and not at all for other files."""
    by_path = {file.path: file for file in files}
    heads: dict[str, str | None] = {}
    out: list[Finding] = []
    for finding in findings:
        file = by_path.get(finding.path)
        if file is None:
            out.append(_left_out(finding, LINES_NOT_IN_DIFF) if finding.suggestion else finding)
            continue
        head = None
        if finding.suggestion and read_head is not None and file.path.endswith(_PYTHON):
            if file.path not in heads:
                heads[file.path] = read_head(file.path)
            head = heads[file.path]
        out.append(vet_suggestion(finding, file, head))
    return tuple(out)


def left_out_counts(findings: Iterable[Finding]) -> tuple[tuple[str, int], ...]:
    """How many suggestions were left out, by reason, most frequent first."""
    counts = Counter(f.suggestion_left_out for f in findings if f.suggestion_left_out)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
