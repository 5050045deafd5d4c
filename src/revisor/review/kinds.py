"""A floor under the severity a model gives, by the kind of problem its title names.

Small models pick severities almost at random: Qwen2.5-Coder-1.5B called an SQL injection
"info", which the default minimum severity ("minor") then dropped. A finding whose title names a
security or crash kind from the review checklist is at least `major`; the model may still say
`critical`. Matching is on whole words of the title only (the body is the model's free text),
and never lowers a severity.
"""

from __future__ import annotations

import re
from dataclasses import replace

from revisor.domain import Finding, Severity

__all__ = ["SERIOUS", "with_severity_floor"]

# Words (lower case) that name a kind of problem that is never a nit.
SERIOUS = re.compile(
    r"\b(?:injection|traversal|race|data race|deadlock|leak|leaks|dereference|null pointer|"
    r"nullpointer|undefined|overflow|hard-?coded|secret|credential|password|timing|"
    r"unchecked|ignored error|swallowed|off-by-one|out of bounds|xss|csrf|ssrf|deserializ\w*|"
    r"unauthori[sz]ed|authori[sz]ation|authentication|privilege)\b"
)


def with_severity_floor(finding: Finding) -> Finding:
    """`finding`, raised to major when its title names a serious kind (see module doc)."""
    if finding.severity >= Severity.MAJOR or not SERIOUS.search(finding.title.lower()):
        return finding
    return replace(finding, severity=Severity.MAJOR)
