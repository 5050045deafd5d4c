from __future__ import annotations

import xml.etree.ElementTree as ET

from revisor.web.dashboard import charts
from revisor.web.dashboard.queries import percentile

SVG = "{http://www.w3.org/2000/svg}"


def test_bar_chart_is_valid_svg_with_one_bar_per_point_and_exact_titles() -> None:
    svg = charts.bar_chart("Reviews", [("11-01", 3), ("11-02", 0), ("11-03", 7)])
    root = ET.fromstring(str(svg))  # noqa: S314 (our own output)
    bars = root.findall(f"{SVG}rect")
    assert len(bars) == 3
    assert [b.find(f"{SVG}title").text for b in bars] == ["11-01: 3", "11-02: 0", "11-03: 7"]  # type: ignore[union-attr]
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[1] == 0
    assert heights[2] > heights[0] > 0


def test_labels_are_escaped() -> None:
    svg = str(charts.hbar_chart("Tokens", [("<script>alert(1)</script>", 10)]))
    assert "<script>" not in svg
    ET.fromstring(svg)  # noqa: S314 (our own output)


def test_empty_data_says_so() -> None:
    assert "no data yet" in charts.bar_chart("x", [])
    assert "no data yet" in charts.line_chart("x", ["a"], {"p50": [None]})


def test_line_chart_breaks_at_missing_days() -> None:
    svg = str(charts.line_chart("t", ["a", "b", "c", "d"], {"p50": [1.0, 2.0, None, 3.0]}))
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    assert len(root.findall(f"{SVG}circle")) == 3
    assert len(root.findall(f"{SVG}polyline")) == 1  # the lone last point draws no line


def test_no_inline_style_in_charts() -> None:
    svg = str(charts.bar_chart("x", [("a", 1)])) + str(
        charts.line_chart("y", ["a", "b"], {"p50": [1.0, 2.0]})
    )
    assert "style=" not in svg


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile([5.0], 99) == 5.0
