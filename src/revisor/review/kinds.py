"""The kind of problem a finding's title names: a floor under the severity a model gives, and
which findings are about the same kind of problem (`fuse.same_problem`).

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

__all__ = ["KIND_WORDS", "SERIOUS", "kinds_of", "with_severity_floor"]

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


# Which kind of problem a title is about, by its words (lower case, whole words; a title may
# name several kinds). Coarse on purpose: two findings a few lines apart that share a kind are
# one problem said twice ("SQL injection in search" from the model, "An SQL statement is built
# by string concatenation" from an analyzer), while "Null dereference" beside "Role read from
# a header" are two.
KIND_WORDS: dict[str, re.Pattern[str]] = {
    name: re.compile(rf"\b(?:{words})\b")
    for name, words in {
        "injection": r"injection|sql|jpql|hql|xss",
        "traversal": r"traversal|path|paths|directory|zip slip|tar slip|extractall",
        "race": r"race|races|concurrent\w*|thread-?safe|synchroni[sz]\w*|atomic\w*|mutex",
        "leak": r"leak|leaks|leaked|close|closed|closing|resource|defer",
        "null": r"null|nil|none|dereference|optional|undefined|nullpointer\w*",
        "auth": r"auth\w*|role|roles|permission\w*|privilege\w*|admin|owner|access control",
        "secret": r"secret|secrets|credential\w*|password\w*|api key|private key|token",
        "money": r"float|floats|double|money|decimal|rounding|cents",
        "error": r"error|errors|exception\w*|swallow\w*|ignored|unchecked|panic",
        "bounds": r"off-by-one|out of bounds|bound|bounds|index|overflow",
    }.items()
}


def kinds_of(title: str) -> frozenset[str]:
    """The kinds of problem `title` names (see KIND_WORDS); empty when it names none."""
    text = title.lower()
    return frozenset(name for name, words in KIND_WORDS.items() if words.search(text))
