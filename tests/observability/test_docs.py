"""docs/operations.md documents every metric that metrics.py defines, in its table."""

from __future__ import annotations

import re
from pathlib import Path

from revisor import metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def table_metrics() -> set[str]:
    return set(re.findall(r"^\| `(revisor_[a-z_]+)` \|", DOC.read_text(), flags=re.M))


def test_every_metric_is_in_the_table() -> None:
    missing = set(metrics.exposed_names()) - table_metrics()
    assert not missing, f"document these metrics in docs/operations.md: {sorted(missing)}"


def test_the_table_names_no_metric_that_does_not_exist() -> None:
    stale = table_metrics() - set(metrics.exposed_names())
    assert not stale, f"docs/operations.md lists metrics that are gone: {sorted(stale)}"


def test_alert_rules_use_existing_metrics() -> None:
    text = DOC.read_text()
    rules = text[text.index("### Example alert rules") : text.index("## Logs")]
    used = set(re.findall(r"\b(revisor_[a-z_]+?)(?:_count|_sum|_bucket)?\b[{\[)]", rules))
    assert used, "no metric found in the alert rules"
    names = set(metrics.exposed_names())
    histograms = {m._name for m in metrics.ALL if m._type == "histogram"}
    assert used <= names | histograms, sorted(used - names - histograms)
