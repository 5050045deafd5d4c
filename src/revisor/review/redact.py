"""Remove credentials and hidden Unicode from diff text before it reaches the model or a log.

Why here and not in the model client: once a secret is in a prompt it may sit in the sidecar's
logs, in an external endpoint's logs, or in the audit trail's record of what was sent. So every
line of every reviewed file goes through `redact_files` first, and MR text through `redact_text`.

A secret on an *added* line is also a problem in the change itself, so it becomes a `Finding`
(source "redaction", critical) on that line, without the secret in it. Secrets on removed or
context lines are redacted silently: they were already in the repository.

Invisible and bidirectional control characters (the "Trojan Source" attack, CVE-2021-42574)
make code read differently from how it compiles; they are replaced by a visible `[U+202E]`
placeholder and flagged the same way.

The detectors are regular expressions run line by line with RE2 (`review/linear.py`), a
linear-time engine, so a crafted line cannot make redaction slow: the cost is linear in the diff
size, whatever the diff. They favour recall on well-known token formats (fixed prefixes,
nearly no false positives) and use an entropy test for generic `password = "..."` assignments.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from revisor.domain import DiffLine, FileDiff, Finding, Hunk, LineKind, Severity
from revisor.review.linear import WHITESPACE, LinearMatch, LinearRegex, compile_linear
from revisor.review.render import fingerprint

# Every redaction leaves this in the text, so what was redacted can be counted downstream.
REDACTION_MARK = "[REDACTED"

__all__ = ["RedactionOutcome", "redact_files", "redact_line", "redact_text"]

CREDENTIAL_TITLE = "A credential appears in this diff"
UNICODE_TITLE = "Hidden Unicode control characters"

# Every pattern below scans whole lines that an MR author controls, so each is compiled with RE2
# (`linear.compile_linear`): time linear in the line, whatever the line. (With Python's `re`, the
# OpenAI pattern alone took 7 to 12 s on one 200 KB line: bench/pathological.py.)
_KEY_BEGIN = compile_linear(r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----")

# Well-known token formats: (kind, pattern). The whole match is replaced.
_TOKEN_PATTERNS: tuple[tuple[str, LinearRegex], ...] = (
    (
        "GitLab token",
        compile_linear(
            r"\b(?:glpat|gldt|glrt|glptt|glft|glimt|glagent|gloas|glsoat|glcbt|glffct)"
            r"-[0-9A-Za-z_\-]{20,64}"
        ),
    ),
    ("GitLab runner token", compile_linear(r"\bGR1348941[0-9A-Za-z_\-]{20,64}")),
    ("GitHub token", compile_linear(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b")),
    ("GitHub token", compile_linear(r"\bgithub_pat_[A-Za-z0-9_]{22,255}")),
    ("AWS access key", compile_linear(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b")),
    ("Slack token", compile_linear(r"\bxox[abposr]-[A-Za-z0-9\-]{10,250}")),
    (
        "Slack webhook",
        compile_linear(
            r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}"
        ),
    ),
    ("Stripe key", compile_linear(r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,247}")),
    ("Google API key", compile_linear(r"\bAIza[0-9A-Za-z_\-]{35}")),
    (
        "OpenAI key",
        compile_linear(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}"),
    ),
    (
        # Segments of any length from 8 up (RE2 caps counted repetitions at 1000, and an
        # unbounded run costs nothing extra in a linear-time engine).
        "JSON Web Token",
        compile_linear(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    ),
    ("private key", _KEY_BEGIN),
)
_KEY_END = compile_linear(r"-----END[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----")

_NOT_SPACE_OR_QUOTE = f"[^{WHITESPACE}\"'`]"
# `scheme://user:password@host`: only the password is replaced.
_URL_CREDENTIAL = compile_linear(
    rf"\b([a-z][a-z0-9+.\-]{{1,20}}://[^{WHITESPACE}/:@'\"]{{1,128}}:)"
    rf"([^{WHITESPACE}/@'\"]{{3,256}})@"
)

# `db_password = "s3cr3t..."`, `API_TOKEN: abc...`, `"secret": "..."`. A value in quotes must
# end with the same quote; RE2 has no backreference, so each quote is its own alternative.
_VALUE = f"{_NOT_SPACE_OR_QUOTE}{{8,512}}"
_ASSIGNMENT = compile_linear(
    r"(?i)(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key"
    r"|client[_\-]?secret|auth[_\-]?key|credentials?)"
    rf"[A-Za-z0-9_.\-]{{0,40}}[\"']?[{WHITESPACE}]{{0,5}}(?::=|=>|=|:)[{WHITESPACE}]{{0,5}}"
    rf"(?:\"(?P<dq>{_VALUE})\"|'(?P<sq>{_VALUE})'|`(?P<bq>{_VALUE})`|(?P<bare>{_VALUE}))"
)
_QUOTED_VALUES = ("dq", "sq", "bq")
# Cheap pre-filters: most lines contain none of these, and then the detectors are skipped.
_TOKEN_HINT = compile_linear(
    r"gl[a-z]{2,7}-|GR1348941|gh[pousr]_|github_pat_|A[KSBC3][A-Z0-9]{2}|xox[abposr]-|"
    r"hooks\.slack|_live_|AIza|T3BlbkFJ|eyJ|PRIVATE KEY"
)
_ASSIGNMENT_HINT = compile_linear(r"(?i)pass|pwd|secret|token|key|credential")
# The checks below see only an assignment's value (at most 512 characters), so Python's `re`
# is bounded there; `_IDENTIFIER_PATH`'s repetition is unambiguous (separators are not
# identifier characters).
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+(?:\(\))?")
_CONSTANT_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_PLACEHOLDER = re.compile(
    r"(?i)(?:\$\{|\{\{|%\(|%s|<[a-z_\-]*>|changeme|change_me|example|placeholder|dummy|your[_\-]"
    r"|redacted|xxxx|\*\*\*|\.\.\.|^none$|^null$|^true$|^false$|environ|getenv|process\.env|secrets\.)"
)

# Bidirectional overrides/isolates (Trojan Source) and zero-width characters.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
_HIDDEN = compile_linear(f"[{_BIDI}{_ZERO_WIDTH}]")


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character: random tokens score ~4-6, words ~2.5-3.5."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_secret(value: str, quoted: bool) -> bool:
    if _PLACEHOLDER.search(value) or _IDENTIFIER_PATH.fullmatch(value):
        return False
    if _CONSTANT_NAME.fullmatch(value) or len(set(value)) < 5:
        return False
    if any(c in value for c in "()[]{};,"):
        return False  # code, not a literal: `token = fetch(...)`, `secret = cfg[...]`
    if value.startswith(("/", "./", "http://", "https://")):
        return False
    if quoted:
        return _entropy(value) >= 3.0
    # Unquoted: `API_KEY=...` in .env files, but also `password = password_field` in code.
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) and not any(c.isdigit() for c in value):
        return False
    return len(value) >= 12 and _entropy(value) >= 3.3


def redact_line(text: str) -> tuple[str, tuple[str, ...]]:
    """Redact one line; return the new text and the kinds of what was found (may repeat)."""
    kinds: list[str] = []
    if _HIDDEN.search(text):
        kinds.append("hidden-unicode")
        text = _HIDDEN.sub(lambda m: f"[U+{ord(m.group() or ' '):04X}]", text)
    if _TOKEN_HINT.search(text):
        for kind, pattern in _TOKEN_PATTERNS:
            if pattern.search(text):
                kinds.append(kind)
                text = pattern.sub(f"[REDACTED {kind}]", text)
    if "://" in text:

        def url_sub(m: LinearMatch) -> str:
            password = m.group(2) or ""
            if _PLACEHOLDER.search(password) or password.startswith("$"):
                return m.group(0) or ""
            kinds.append("password in URL")
            return f"{m.group(1)}[REDACTED]@"

        text = _URL_CREDENTIAL.sub(url_sub, text)

    def assign_sub(m: LinearMatch) -> str:
        whole = m.group(0) or ""
        group = next(g for g in (*_QUOTED_VALUES, "bare") if m.group(g) is not None)
        value = m.group(group) or ""
        if value.startswith(REDACTION_MARK) or not _looks_secret(value, group != "bare"):
            return whole
        kinds.append("secret assignment")
        start, end = m.span(group)
        offset = m.span()[0]
        return whole[: start - offset] + "[REDACTED]" + whole[end - offset :]

    if _ASSIGNMENT_HINT.search(text):
        text = _ASSIGNMENT.sub(assign_sub, text)
    return text, tuple(kinds)


def redact_text(text: str, *, max_chars: int | None = None) -> tuple[str, int]:
    """Redact free text (MR title/description, repository guidance); return it and a count.

    With `max_chars`, a longer text is cut before it is read, at the last whitespace that
    leaves room for a marker saying how much was cut. No credential the detectors know
    contains whitespace, so none is cut in half: it is kept whole (and redacted) or dropped.
    """
    marker = ""
    if max_chars is not None and len(text) > max_chars:
        cut = _cut_point(text, max(0, max_chars - _CUT_MARKER_ROOM))
        marker = f"\n[Revisor cut this text: {len(text) - cut:,} more characters]"
        text = text[:cut]
    out: list[str] = []
    count = 0
    in_key = False
    for line in text.split("\n"):
        if in_key or _KEY_BEGIN.search(line):
            count += 0 if in_key else 1  # one key block counts once
            in_key = not _KEY_END.search(line)
            out.append("[REDACTED private key]")
            continue
        new, kinds = redact_line(line)
        count += len(kinds)
        out.append(new)
    return "\n".join(out) + marker, count


_CUT_MARKER_ROOM = 64  # "\n[Revisor cut this text: 1,234,567 more characters]" fits


def _cut_point(text: str, limit: int) -> int:
    """The index of the last whitespace character at or before `limit` (0 if there is none)."""
    for index in range(min(limit, len(text) - 1), -1, -1):
        if text[index].isspace():
            return index
    return 0


@dataclass(frozen=True)
class RedactionOutcome:
    files: tuple[FileDiff, ...]  # same files, with redacted line text
    findings: tuple[Finding, ...]  # one per added line that had a secret or hidden characters
    redactions: int  # how many things were redacted in total (all line kinds)


def redact_files(files: Sequence[FileDiff]) -> RedactionOutcome:
    hits: list[_Hit] = []
    total = 0
    out_files: list[FileDiff] = []
    for file in files:
        new_hunks: list[Hunk] = []
        changed = False
        for hunk in file.hunks:
            lines: list[DiffLine] = []
            in_key = False
            for original in hunk.lines:
                line = original
                kinds: tuple[str, ...]
                if in_key or _KEY_BEGIN.search(line.text):
                    in_key = not _KEY_END.search(line.text)
                    new_text, kinds = "[REDACTED private key]", ("private key",)
                else:
                    new_text, kinds = redact_line(line.text)
                if kinds:
                    total += 1
                    changed = True
                    line = replace(line, text=new_text)
                    if line.kind is LineKind.ADDED and line.new_line is not None:
                        hits.append(_Hit(file, line.new_line, line.text, kinds))
                lines.append(line)
            new_hunks.append(replace(hunk, lines=tuple(lines)))
        out_files.append(replace(file, hunks=tuple(new_hunks)) if changed else file)
    return RedactionOutcome(tuple(out_files), _findings(hits), total)


@dataclass(frozen=True)
class _Hit:
    """An added line that redaction changed: what it found there."""

    file: FileDiff
    line: int
    text: str  # after redaction: the fingerprint never hashes a secret
    kinds: tuple[str, ...]


def _findings(hits: Sequence[_Hit]) -> tuple[Finding, ...]:
    """One finding per run of consecutive added lines with the same problem: an AWS key id and
    its secret on two lines, or a private key block, are one credential, reported on the first
    line of the run; hidden Unicode likewise."""
    out: list[Finding] = []
    for title, pick in ((CREDENTIAL_TITLE, _secret_kinds), (UNICODE_TITLE, _unicode_kinds)):
        runs: list[list[_Hit]] = []
        for hit in hits:
            if not pick(hit.kinds):
                continue
            last = runs[-1][-1] if runs else None
            if last is not None and last.file.path == hit.file.path and last.line + 1 == hit.line:
                runs[-1].append(hit)
            else:
                runs.append([hit])
        out.extend(
            _finding(title, run, sorted({k for h in run for k in pick(h.kinds)})) for run in runs
        )
    files = {h.file.path: n for n, h in reversed(list(enumerate(hits)))}  # first appearance
    return tuple(
        sorted(out, key=lambda f: (files[f.path], f.new_line or 0, f.title != CREDENTIAL_TITLE))
    )


def _secret_kinds(kinds: tuple[str, ...]) -> list[str]:
    return [k for k in kinds if k != "hidden-unicode"]


def _unicode_kinds(kinds: tuple[str, ...]) -> list[str]:
    return [k for k in kinds if k == "hidden-unicode"]


def _finding(title: str, run: Sequence[_Hit], kinds: Sequence[str]) -> Finding:
    first = run[0]
    where = "This line" if len(run) == 1 else f"This line and the {len(run) - 1} after it"
    if title == CREDENTIAL_TITLE:
        body = (
            f"{where} {'contains' if len(run) == 1 else 'contain'} what looks like a "
            f"credential ({', '.join(kinds)}). Revisor redacted it before review. If it is "
            "real, revoke and rotate it now: deleting it in a later commit does not remove it "
            "from the Git history. Keep credentials in CI/CD variables or a secret store instead."
        )
    else:
        body = (
            f"{where} {'contains' if len(run) == 1 else 'contain'} invisible or bidirectional "
            "Unicode control characters (shown to the reviewer as [U+XXXX]). They can make code "
            "read differently from how it runs (the 'Trojan Source' attack). Remove them unless "
            "they are intended and documented."
        )
    return Finding(
        path=first.file.path,
        old_path=first.file.old_path,
        old_line=None,
        new_line=first.line,
        severity=Severity.CRITICAL,
        title=title,
        body=body,
        source="redaction",
        fingerprint=fingerprint(first.file.path, title, first.text),
    )
