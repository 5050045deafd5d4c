"""The redaction detectors as they were before RE2: Python `re`, backtracking.

A reference for the property tests only (same matches, on inputs small enough that
backtracking does not matter). Never import it from src/: on a crafted line the OpenAI
pattern here takes seconds (bench/pathological.py measures it).
"""

from __future__ import annotations

import re

from revisor.review.redact import REDACTION_MARK, _looks_secret

_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----")
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "GitLab token",
        re.compile(
            r"\b(?:glpat|gldt|glrt|glptt|glft|glimt|glagent|gloas|glsoat|glcbt|glffct)"
            r"-[0-9A-Za-z_\-]{20,64}"
        ),
    ),
    ("GitLab runner token", re.compile(r"\bGR1348941[0-9A-Za-z_\-]{20,64}")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b")),
    ("GitHub token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,250}")),
    (
        "Slack webhook",
        re.compile(
            r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}"
        ),
    ),
    ("Stripe key", re.compile(r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,247}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("OpenAI key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}")),
    (
        "JSON Web Token",
        re.compile(
            r"\beyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{8,4096}"
        ),
    ),
    ("private key", _KEY_BEGIN),
)
URL_CREDENTIAL = re.compile(
    r"\b([a-z][a-z0-9+.\-]{1,20}://[^\s/:@'\"]{1,128}:)([^\s/@'\"]{3,256})@"
)
ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<name>(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key
          |client[_\-]?secret|auth[_\-]?key|credentials?)
     [A-Za-z0-9_.\-]{0,40})
    (?P<q1>["']?)\s{0,5}(?::=|=>|=|:)\s{0,5}
    (?P<q>["'`]?)(?P<value>[^\s"'`]{8,512})(?P=q)
    """
)
_PLACEHOLDER = re.compile(
    r"(?i)(?:\$\{|\{\{|%\(|%s|<[a-z_\-]*>|changeme|change_me|example|placeholder|dummy|your[_\-]"
    r"|redacted|xxxx|\*\*\*|\.\.\.|^none$|^null$|^true$|^false$|environ|getenv|process\.env|secrets\.)"
)
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
_HIDDEN = re.compile(f"[{_BIDI}{_ZERO_WIDTH}]")


def redact_line(text: str) -> tuple[str, tuple[str, ...]]:
    """The old `redact_line`, without its pre-filters (they only skip work)."""
    kinds: list[str] = []
    if _HIDDEN.search(text):
        kinds.append("hidden-unicode")
        text = _HIDDEN.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
    for kind, pattern in TOKEN_PATTERNS:
        if pattern.search(text):
            kinds.append(kind)
            text = pattern.sub(f"[REDACTED {kind}]", text)
    if "://" in text:

        def url_sub(m: re.Match[str]) -> str:
            if _PLACEHOLDER.search(m.group(2)) or m.group(2).startswith("$"):
                return m.group(0)
            kinds.append("password in URL")
            return f"{m.group(1)}[REDACTED]@"

        text = URL_CREDENTIAL.sub(url_sub, text)

    def assign_sub(m: re.Match[str]) -> str:
        value = m.group("value")
        if value.startswith(REDACTION_MARK) or not _looks_secret(value, bool(m.group("q"))):
            return m.group(0)
        kinds.append("secret assignment")
        start, end = m.span("value")
        whole = m.group(0)
        offset = m.start()
        return whole[: start - offset] + "[REDACTED]" + whole[end - offset :]

    if re.search(r"(?i)pass|pwd|secret|token|key|credential", text):
        text = ASSIGNMENT.sub(assign_sub, text)
    return text, tuple(kinds)
