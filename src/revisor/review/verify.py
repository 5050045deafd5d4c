"""The verification pass: a second, short model call per candidate finding.

Small models report many problems that are not there. Each candidate (a model finding, or an
analyzer hit that the model has not already named) is shown again to the model with only the
code around the line it cites, and the model answers `real` or `false`. Findings judged false
are not posted (they are kept in `ReviewResult.unconfirmed` and counted in the summary). An
answer that says neither (garbage, an empty string) leaves the finding as it was: a broken
verifier must not silently empty a review, so such findings are posted and counted as not
verified.

Before the call, a claim of a kind whose evidence is plain to see is checked against the code it
cites (`grounded`): an "SQL injection" with no query, statement or database call in the lines
shown is rejected without asking. Small models name SQL injection in every function of a file
that has no SQL at all, and then confirm it when asked.

Pure: building messages and reading the verdict. The engine makes the calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from string import Template

from revisor.domain import ChatMessage, DiffLine, FileDiff, Finding, LineKind
from revisor.review.prompt import neutralise, read_prompt, render_line

__all__ = [
    "MAX_VERIFY_TOKENS",
    "WINDOW_LINES",
    "Verdict",
    "code_window",
    "grounded",
    "holds",
    "parse_verdict",
    "verify_messages",
]

MAX_VERIFY_TOKENS = 128  # one sentence of reasoning, then the verdict
WINDOW_LINES = 12  # lines shown above and below the cited line
MAX_REASON = 300
_WORD = re.compile(r"\b(real|false|true|yes|no|confirmed|rejected|valid|invalid)\b", re.I)
_REAL = frozenset({"real", "true", "yes", "confirmed", "valid"})


_SQL = (
    r"select|insert|update|delete|where|query|queries|sql|jpql|hql|execute|exec|executemany|"
    r"prepare\w*|createquery|createnativequery|cursor|db|jdbc|statement|knex|sequelize"
)
_SHELL = (
    r"exec\w*|spawn\w*|system|popen|subprocess|shell|runtime|processbuilder|child_process|"
    r"command"
)
_MARKUP = r"html|innerhtml|render\w*|template\w*|send|write|eval|res"
# (what a title claims, what the code shown must contain for the claim to be possible)
GROUNDS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(rf"\b(?:{claim})\b"), re.compile(rf"\b(?:{evidence})\b"))
    for claim, evidence in (
        (r"sql|jpql|hql", _SQL),
        (r"command injection|shell injection|os command", _SHELL),
        (r"injection", "|".join((_SQL, _SHELL, _MARKUP, r"ldap|xpath|regex|header|log\w*"))),
        (r"traversal", r"path\w*|file\w*|dir\w*|open|join|resolve|read\w*|write\w*|"
                       r"send\w*|upload\w*|download\w*|extract\w*|unzip|tar\w*|zip\w*"),
    )
)  # fmt: skip


NEAR_LINES = 3
_SQL_INJECTION = re.compile(
    r"\b(?:sql|jpql|hql)\b.*\binjection\b|\binjection\b.*\b(?:sql|jpql|hql)\b"
)
# A string built from values: f-string, format call, % formatting, concatenation with a string
# literal, template literal, Sprintf / String.format.
_BUILT = re.compile(
    r"""\bf["']|\.format\(|["']\s*%\s*[\w(]|["'`]\s*\+|\+\s*["'`]|\$\{|sprintf|string\.format|"""
    r"""\.concat\(|\+="""
)


def grounded(finding: Finding, file: FileDiff) -> bool:
    """Whether the code around the finding's line can hold what its title claims (see GROUNDS):
    every claim the title makes needs its evidence within WINDOW_LINES of the line; an SQL
    injection also needs a string built from values within NEAR_LINES (a query with placeholders
    there is not one). Titles that claim none of these kinds are left to the model."""
    title = finding.title.lower()
    wide = _source_around(file, finding, WINDOW_LINES)
    if _SQL_INJECTION.search(title) and not _BUILT.search(
        _source_around(file, finding, NEAR_LINES)
    ):
        return False
    return all(evidence.search(wide) for claim, evidence in GROUNDS if claim.search(title))


def _source_around(file: FileDiff, finding: Finding, radius: int) -> str:
    """The code (lower case, no diff markers or numbers) of the lines within `radius` of the
    finding's line in `file`'s diff."""
    around = _around(file, finding, radius)
    return "\n".join(ln.text for ln, _target in around).lower()


def _around(file: FileDiff, finding: Finding, radius: int) -> list[tuple[DiffLine, bool]]:
    """The diff lines within `radius` of the finding's line, each with whether it is that line
    (none when the line is not in the diff)."""
    shown = file.lines()
    index = next((i for i, ln in enumerate(shown) if _is_target(ln, finding)), None)
    if index is None:
        return []
    start, end = max(0, index - radius), min(len(shown), index + radius + 1)
    return [(shown[i], i == index) for i in range(start, end)]


@dataclass(frozen=True)
class Verdict:
    real: bool
    reason: str


def code_window(file: FileDiff, finding: Finding, lines: int = WINDOW_LINES) -> str:
    """The lines of `file`'s (widened, redacted) diff around the finding, as the model sees
    diffs, the finding's line marked with ">>"."""
    return "\n".join(
        (">> " if target else "   ") + render_line(line)
        for line, target in _around(file, finding, lines)
    )


def holds(file: FileDiff, finding: Finding) -> bool:
    """Whether the finding's line is one of `file`'s diff lines."""
    return any(_is_target(ln, finding) for ln in file.lines())


def _is_target(line: DiffLine, finding: Finding) -> bool:
    if finding.new_line is not None:
        return line.new_line == finding.new_line and line.kind is not LineKind.REMOVED
    return line.old_line == finding.old_line and line.kind is LineKind.REMOVED


def verify_messages(finding: Finding, code: str) -> list[ChatMessage]:
    """The two messages of one verification call. `code` must already be redacted."""
    source = "an automated review" if finding.source == "model" else f"{finding.source} rule"
    text = finding.title if not finding.body else f"{finding.title}\n{finding.body}"
    user = Template(read_prompt("verify_user.txt")).substitute(
        source=neutralise(source),
        finding=neutralise(text[:2000]),
        path=neutralise(finding.path),
        code=neutralise(code),
    )
    return [
        ChatMessage("system", read_prompt("verify_system.txt").strip()),
        ChatMessage("user", user.strip()),
    ]


def parse_verdict(text: str) -> Verdict | None:
    """`real`/`false` from the model's answer, or None when it says neither."""
    stripped = text.strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        try:
            data = json.loads(stripped[start : end + 1])
        except ValueError:
            data = None
        if isinstance(data, dict):
            verdict = data.get("verdict", data.get("answer"))
            reason = data.get("reason", "")
            if isinstance(verdict, bool):
                return Verdict(verdict, reason[:MAX_REASON] if isinstance(reason, str) else "")
            if isinstance(verdict, str) and (word := _WORD.search(verdict)):
                real = word.group(1).lower() in _REAL
                return Verdict(real, reason.strip()[:MAX_REASON] if isinstance(reason, str) else "")
    word = _WORD.search(stripped[:200])
    if word is None:
        return None
    return Verdict(word.group(1).lower() in _REAL, "")
