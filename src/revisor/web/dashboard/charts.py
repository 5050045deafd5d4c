"""Server-side SVG charts: no JavaScript chart library to vendor, and nothing for the CSP to allow.

Pure functions from numbers to SVG text. Colours and sizes are presentation attributes (not
`style=`), which the Content-Security-Policy does not count as inline style. Every label is
escaped; each bar carries a <title> so hovering shows the exact value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#2563eb", "#d97706", "#dc2626", "#059669", "#7c3aed")
AXIS = "#6b7280"


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _nice_max(value: float) -> float:
    """Round the axis maximum up to 1, 2 or 5 x 10^n so the gridlines land on round numbers."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _frame(title: str, width: int, height: int, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every piece is escaped above)


def _y_axis(
    max_value: float, left: int, top: int, plot_w: int, plot_h: int, unit: str
) -> list[str]:
    out = []
    for i in range(5):
        v = max_value * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#e5e7eb" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{AXIS}">{escape(_fmt(v) + unit)}</text>'
        )
    return out


def bar_chart(
    title: str,
    points: Sequence[tuple[str, float]],
    *,
    unit: str = "",
    width: int = 640,
    height: int = 220,
    color: str = PALETTE[0],
) -> Markup:
    """Vertical bars, one per (label, value); labels thinned out so they never overlap."""
    left, right, top, bottom = 48, 12, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        return _frame(title, width, height, [_empty(width, height)])
    max_value = _nice_max(max(v for _, v in points))
    body = _y_axis(max_value, left, top, plot_w, plot_h, unit)
    slot = plot_w / len(points)
    every = max(1, round(len(points) / 8))
    for i, (label, value) in enumerate(points):
        h = plot_h * value / max_value
        x = left + i * slot + slot * 0.15
        y = top + plot_h - h
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{color}"><title>{escape(label)}: {escape(_fmt(value) + unit)}</title></rect>'
        )
        if i % every == 0:
            body.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle" font-size="11" fill="{AXIS}">{escape(label)}</text>'
            )
    return _frame(title, width, height, body)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    unit: str = "",
    width: int = 640,
    height: int = 220,
) -> Markup:
    """One polyline per series (None = no data that day: the line breaks there) and a legend."""
    left, right, top, bottom = 48, 12, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for vs in series.values() for v in vs if v is not None]
    if not labels or not values:
        return _frame(title, width, height, [_empty(width, height)])
    max_value = _nice_max(max(values))
    body = _y_axis(max_value, left, top, plot_w, plot_h, unit)
    step = plot_w / max(1, len(labels) - 1)
    every = max(1, round(len(labels) / 8))
    for i, label in enumerate(labels):
        if i % every == 0:
            body.append(
                f'<text x="{left + i * step:.1f}" y="{height - bottom + 16}" '
                f'text-anchor="middle" font-size="11" fill="{AXIS}">{escape(label)}</text>'
            )
    for n, (name, vs) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(vs):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            x, y = left + i * step, top + plot_h - plot_h * v / max_value
            segment.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                f"<title>{escape(name)} {escape(labels[i])}: {escape(_fmt(v) + unit)}</title>"
                "</circle>"
            )
        if segment:
            segments.append(segment)
        body.extend(
            f'<polyline points="{" ".join(s)}" fill="none" stroke="{color}" stroke-width="2"/>'
            for s in segments
            if len(s) > 1
        )
        body.append(
            f'<rect x="{left + n * 80}" y="4" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + n * 80 + 14}" y="13" font-size="11" fill="{AXIS}">'
            f"{escape(name)}</text>"
        )
    return _frame(title, width, height, body)


def hbar_chart(
    title: str, items: Sequence[tuple[str, float]], *, unit: str = "", width: int = 640
) -> Markup:
    """Horizontal bars, for a few named things (tokens per repository)."""
    row, left, right = 22, 180, 60
    height = max(60, row * len(items) + 16)
    if not items:
        return _frame(title, width, height, [_empty(width, height)])
    max_value = max(v for _, v in items) or 1.0
    body = []
    for i, (label, value) in enumerate(items):
        y = 8 + i * row
        w = (width - left - right) * value / max_value
        short = label if len(label) <= 26 else "…" + label[-25:]
        body.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="12" fill="#111827">'
            f"{escape(short)}</text>"
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[3]}">'
            f"<title>{escape(label)}: {escape(_fmt(value) + unit)}</title></rect>"
            f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="11" fill="{AXIS}">'
            f"{escape(_fmt(value) + unit)}</text>"
        )
    return _frame(title, width, height, body)


def _empty(width: int, height: int) -> str:
    return (
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" font-size="13" '
        f'fill="{AXIS}">no data yet</text>'
    )
