"""Hidden markers Revisor puts in what it posts, so it can recognise its own comments later.

Both forges render HTML comments invisibly in markdown. The fingerprint marker makes posting
idempotent (a re-review skips findings already posted); the summary marker lets the summary be
updated in place instead of piling up.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

SUMMARY_MARKER = "<!-- revisor:summary -->"
_FP_RE = re.compile(r"<!-- revisor:fp=([0-9a-f]{8,64}) -->")


def fingerprint_marker(fingerprint: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{8,64}", fingerprint):
        raise ValueError(f"fingerprint must be 8-64 lowercase hex digits: {fingerprint!r}")
    return f"<!-- revisor:fp={fingerprint} -->"


def find_fingerprint(body: str) -> str | None:
    match = _FP_RE.search(body)
    return match.group(1) if match else None


def is_summary(body: str) -> bool:
    return SUMMARY_MARKER in body


def reply_marker(note_key: str) -> str:
    """The hidden marker of Revisor's answer to one message (`note_key`: forge note id), so a
    job that runs twice can see that the message was answered."""
    digest = hashlib.sha256(note_key.encode("utf-8")).hexdigest()[:16]
    return f"<!-- revisor:re={digest} -->"


def answered(bodies: Iterable[str], note_key: str) -> bool:
    """Whether one of `bodies` carries the answer marker of `note_key`."""
    marker = reply_marker(note_key)
    return any(marker in body for body in bodies)
