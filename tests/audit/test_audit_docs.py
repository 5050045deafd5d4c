"""docs/audit.md must document exactly the events the code can write."""

from __future__ import annotations

import re
from pathlib import Path

from revisor.audit import Event

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def catalogue() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Event catalogue", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z][a-z0-9_.]+)` \|", section, flags=re.MULTILINE)


def test_every_event_is_documented() -> None:
    documented = catalogue()
    missing = [e.value for e in Event if e.value not in documented]
    assert not missing, f"add these events to docs/audit.md: {missing}"


def test_no_documented_event_is_unknown() -> None:
    known = {e.value for e in Event}
    unknown = [name for name in catalogue() if name not in known]
    assert not unknown, f"docs/audit.md documents events the code never writes: {unknown}"
    assert len(catalogue()) == len(set(catalogue()))
