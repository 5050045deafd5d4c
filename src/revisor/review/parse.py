"""Model text -> validated findings anchored to lines of the diff.

Small local models answer with "almost JSON": wrapped in ```json fences, preceded by "Sure!
Here is my review:", with trailing commas, cut off by the token limit, or as a Python dict.
`parse_output` accepts those and repairs only what cannot change meaning:

- extract the JSON object from fences or surrounding prose;
- remove trailing commas before `]` / `}` (outside strings);
- when the answer was cut off, drop the incomplete last element and close the brackets;
- parse Python-literal syntax (`{'findings': [...]}`) with `ast.literal_eval`, which evaluates
  literals only, never code.

Everything else is refused with `OutputInvalid` (and the engine retries once). Each finding is
then validated field by field; an invalid one is dropped and counted, not guessed at.

`review.anchor` then ties each finding to a line that is really in the diff.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from revisor.domain import Severity
from revisor.errors import OutputInvalid

__all__ = ["ParseOutcome", "RawFinding", "parse_output"]

MAX_OUTPUT_CHARS = 200_000
MAX_TITLE = 200
MAX_BODY = 4000
MAX_SUGGESTION = 4000
MAX_CODE = 400
MAX_NOTES = 100
MAX_NOTE = 300
_LIST_KEYS = ("findings", "comments", "issues", "review", "results")
_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?\s*(.*?)(?:```|\Z)", re.DOTALL)
_OBJECT_START = re.compile(r"\{\s*[\"']")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_FIRST_INT = re.compile(r"\d{1,9}")
# Words small models use instead of ours. Anything not here (or in Severity) is dropped.
_SEVERITY_SYNONYMS = {
    "nit": Severity.INFO,
    "note": Severity.INFO,
    "suggestion": Severity.INFO,
    "low": Severity.MINOR,
    "warning": Severity.MINOR,
    "medium": Severity.MAJOR,
    "high": Severity.MAJOR,
    "error": Severity.MAJOR,
    "blocker": Severity.CRITICAL,
}


@dataclass(frozen=True)
class RawFinding:
    """A finding as the model stated it, validated but not yet anchored."""

    path: str
    line: int
    side: str  # "new" | "old"
    severity: Severity
    title: str
    body: str
    suggestion: str | None = None
    # The new-file lines the suggestion replaces, when the model gave them (else the line only)
    suggestion_first: int | None = None
    suggestion_last: int | None = None
    # The code line the finding is about, as the model quoted it (anchoring trusts it first)
    code: str = ""


@dataclass(frozen=True)
class ParseOutcome:
    findings: tuple[RawFinding, ...]
    dropped_invalid: int  # elements that were not a valid finding
    repaired: tuple[str, ...]  # which safe repairs were needed, for diagnostics
    # What the model says each file's change does: (path, one sentence)
    notes: tuple[tuple[str, str], ...] = ()


def _candidates(text: str) -> list[str]:
    """Texts that may hold the JSON document, most likely first."""
    out: list[str] = []
    for match in _FENCE.finditer(text):
        body = match.group(1).strip()
        if body.startswith(("{", "[")):
            out.append(body)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if starts:
        out.append(text[min(starts) :].strip())
    keyed = _OBJECT_START.search(text)  # prose with braces before the object: "a {b} c {"..."
    if keyed and text[keyed.start() :].strip() not in out:
        out.append(text[keyed.start() :].strip())
    return out


def _scan(text: str) -> tuple[list[str], int]:
    """Bracket stack left open at the end, and the end index of the last element closed inside
    an open container (or -1). Strings and escapes are respected."""
    stack: list[str] = []
    last_inner_close = -1
    in_string = False
    quote = ""
    escape = False
    for i, ch in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == quote:
                in_string = False
            continue
        if ch in "\"'":
            # Single quotes delimit strings only in Python-literal output; in JSON they are
            # characters inside strings (handled above) and never appear outside them.
            in_string, quote = True, ch
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            if not stack:
                break
            stack.pop()
            if not stack:
                return [], i
            if stack:
                last_inner_close = i
    return stack, last_inner_close


def _close_truncated(text: str) -> str | None:
    """Cut after the last complete element and close what is open; None if nothing complete."""
    stack, last = _scan(text)
    if not stack:
        return None
    if last < 0:
        return None
    head = text[: last + 1]
    stack, _ = _scan(head)
    closers = "".join("}" if c == "{" else "]" for c in reversed(stack))
    return head + closers


def _loads(candidate: str) -> tuple[Any, tuple[str, ...]]:
    """Parse one candidate, trying safe repairs in order. Raises ValueError if none works."""
    attempts: list[tuple[str, tuple[str, ...]]] = [(candidate, ())]
    stack, end = _scan(candidate)
    if not stack and end >= 0 and end + 1 < len(candidate):
        attempts.insert(0, (candidate[: end + 1], ("trailing text",)))
    no_commas = _TRAILING_COMMA.sub(r"\1", candidate)
    if no_commas != candidate:
        attempts.append((no_commas, ("trailing commas",)))
    closed = _close_truncated(no_commas)
    if closed is not None:
        attempts.append((closed, ("truncated",)))
        attempts.append((_TRAILING_COMMA.sub(r"\1", closed), ("truncated", "trailing commas")))
    for text, repairs in attempts:
        try:
            return json.loads(text), repairs
        except (ValueError, RecursionError):
            pass
    for text, repairs in attempts:
        if "'" not in text and "True" not in text and "None" not in text:
            continue
        try:
            return ast.literal_eval(text), (*repairs, "python literal")
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    raise ValueError("not parseable as JSON even after safe repairs")


def _finding_list(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            value = data.get(key)
            if isinstance(value, list):
                return value
        if any(k in data for k in ("findings", "comments", "issues")) and not any(
            data.get(k) for k in ("findings", "comments", "issues")
        ):
            return []  # {"findings": null} / {"findings": {}}: nothing to report
        if "line" in data and any(k in data for k in ("title", "body", "message")):
            return [data]  # a single finding without the wrapper
    raise ValueError("the JSON has no 'findings' list")


def parse_output(text: str) -> ParseOutcome:
    """Parse the model's answer. Raises `OutputInvalid` with a reason if it is unusable."""
    stripped = text.strip()
    if not stripped:
        raise OutputInvalid("the model returned an empty answer")
    if len(stripped) > MAX_OUTPUT_CHARS:
        raise OutputInvalid(f"the model's answer is longer than {MAX_OUTPUT_CHARS} characters")
    candidates = _candidates(stripped)
    if not candidates:
        raise OutputInvalid("the model's answer contains no JSON object")
    problems: list[str] = []
    for candidate in candidates:
        try:
            data, repairs = _loads(candidate)
            items = _finding_list(data)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        findings: list[RawFinding] = []
        dropped = 0
        for item in items:
            finding = _validate(item)
            if finding is None:
                dropped += 1
            else:
                findings.append(finding)
        return ParseOutcome(tuple(findings), dropped, repairs, _notes(data))
    raise OutputInvalid(f"the model's answer is not valid findings JSON: {problems[-1]}")


def _notes(data: Any) -> tuple[tuple[str, str], ...]:
    """`"changes": [{"path": ..., "summary": ...}]` (or a {path: sentence} object), validated;
    anything malformed is left out, never guessed at."""
    raw = data.get("changes") if isinstance(data, dict) else None
    items: list[tuple[Any, Any]] = []
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [
            (item.get("path") or item.get("file"), item.get("summary") or item.get("change"))
            for item in raw
            if isinstance(item, dict)
        ]
    notes: list[tuple[str, str]] = []
    for path, sentence in items[:MAX_NOTES]:
        path_text, note = _text(path, 1000), _text(sentence, MAX_NOTE)
        if path_text and note:
            notes.append((path_text, note.split("\n", 1)[0]))
    return tuple(notes)


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


def _validate(item: Any) -> RawFinding | None:
    """One element -> RawFinding, or None when a required field is missing or wrong."""
    if not isinstance(item, dict):
        return None
    path = _text(item.get("path") or item.get("file") or item.get("filename"), 1000)
    for prefix in ("a/", "b/", "./"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    if not path:
        return None
    code = _text(item.get("code") or item.get("quote") or item.get("line_text"), MAX_CODE)
    line = _line_number(item.get("line", item.get("line_number", item.get("new_line"))))
    if line is None:
        if not code:
            return None
        line = 0  # no number, but the quoted code can still place it

    side = _text(item.get("side", "new"), 10).lower() or "new"
    side = {"right": "new", "+": "new", "left": "old", "-": "old"}.get(side, side)
    if side not in ("new", "old"):
        return None
    raw_severity = item.get("severity")
    if not isinstance(raw_severity, str):
        return None
    try:
        severity = Severity.parse(raw_severity)
    except ValueError:
        synonym = _SEVERITY_SYNONYMS.get(raw_severity.strip().lower())
        if synonym is None:
            return None
        severity = synonym
    body = _text(item.get("body") or item.get("message") or item.get("description"), MAX_BODY)
    title = _text(item.get("title"), MAX_TITLE)
    if not title and body:
        title = body.split("\n", 1)[0].split(". ", 1)[0][:MAX_TITLE]
    if not title:
        return None
    suggestion_raw = item.get("suggestion")
    suggestion = (
        suggestion_raw[:MAX_SUGGESTION]
        if isinstance(suggestion_raw, str) and suggestion_raw.strip()
        else None
    )
    first = _line_number(item.get("suggestion_start_line"))
    last = _line_number(item.get("suggestion_end_line"))
    return RawFinding(path, line, side, severity, title, body, suggestion, first, last, code)


def _line_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 1 else None
    if isinstance(value, float) and value.is_integer():
        return int(value) if value >= 1 else None
    if isinstance(value, str):
        match = _FIRST_INT.search(value)  # "12", "L12", "12-14" -> 12
        if match:
            number = int(match.group())
            return number if number >= 1 else None
    return None
