"""A server's clock from its `Date` header (the doctor compares it with ours)."""

from __future__ import annotations

import email.utils


def parse_http_date(value: str | None) -> float | None:
    """The Unix time in an HTTP `Date` header, or None when it is missing or unreadable."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
