"""How the audit page shows a record to a person: its details as name/value pairs (not JSON),
links to the records and pages it relates to, and the signing key's fingerprint."""

from __future__ import annotations

import json
import re
from typing import Any

from revisor.audit import AuditLog
from revisor.audit.keys import fingerprint
from revisor.errors import RevisorError

_REF = re.compile(r"(job|repo):(\d{1,12})")


def related(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, search link, page link) for each job or repository the record is about."""
    found: dict[str, None] = {}
    for m in _REF.finditer(str(record.get("target") or "")):
        found[f"{m.group(1)}:{m.group(2)}"] = None
    details = record.get("details") or {}
    for kind in ("job", "repo"):
        value = details.get(f"{kind}_id")
        if isinstance(value, int) and not isinstance(value, bool):
            found[f"{kind}:{value}"] = None
    out = []
    for ref in found:
        kind, _, number = ref.partition(":")
        page = f"/jobs/{number}" if kind == "job" else f"/repos/{number}"
        out.append((ref, f"/audit?q={ref}", page))
    return out


def detail_items(details: dict[str, Any]) -> list[tuple[str, str]]:
    """Each detail as (name, readable value): lists joined, nested objects as compact JSON."""
    items = []
    for key in sorted(details):
        value = details[key]
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            shown = ", ".join(str(v) for v in value)
        elif isinstance(value, dict | list):
            shown = json.dumps(value, sort_keys=True, separators=(", ", ": "))
        elif value is None:
            shown = "—"
        else:
            shown = str(value)
        items.append((key.replace("_", " "), shown))
    return items


def signing_fingerprint(audit: AuditLog) -> str:
    """The checkpoint signing key's fingerprint (what `revisor audit verify --key` pins)."""
    try:
        return fingerprint(audit.public_key())
    except (RevisorError, OSError) as exc:
        return f"unavailable ({type(exc).__name__})"
