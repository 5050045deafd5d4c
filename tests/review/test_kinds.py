"""The severity floor for findings whose title names a serious kind."""

from __future__ import annotations

import pytest

from revisor.domain import Finding, Severity
from revisor.review.kinds import with_severity_floor


def _f(title: str, severity: Severity) -> Finding:
    return Finding("a.py", "a.py", None, 3, severity, title, "body")


@pytest.mark.parametrize(
    ("title", "given", "expected"),
    [
        ("SQL Injection Risk", Severity.INFO, Severity.MAJOR),
        ("Possible path traversal in download", Severity.MINOR, Severity.MAJOR),
        ("Data race on the counter", Severity.INFO, Severity.MAJOR),
        ("SQL injection", Severity.CRITICAL, Severity.CRITICAL),  # never lowered
        ("Consider a clearer name", Severity.INFO, Severity.INFO),
        ("Leaky abstraction", Severity.MINOR, Severity.MINOR),  # whole words only
    ],
)
def test_floor(title: str, given: Severity, expected: Severity) -> None:
    assert with_severity_floor(_f(title, given)).severity is expected
