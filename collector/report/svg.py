"""Small inline SVG charts: horizontal bars, a trend line and a day-by-hour heat map.

Pure strings, no external resources, so the HTML stays self-contained and the
PDF printed from it shows the very same charts.
"""

from __future__ import annotations

from html import escape

from collector.report.fmt import DAYS

_BAR = "#c0392b"
_TREND = "#2c3e50"


def bars(rows: list[tuple[str, float, str]], width: int = 560, bar_h: int = 18) -> str:
    """Horizontal bar chart of ``(label, value, value_text)`` rows."""
    if not rows:
        return ""
    label_w, text_w = 190, 90
    top = max(v for _, v, _ in rows) or 1.0
    span = width - label_w - text_w
    height = len(rows) * (bar_h + 6) + 4
    out = [f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">']
    for i, (label, value, text) in enumerate(rows):
        y = 2 + i * (bar_h + 6)
        w = max(span * value / top, 1.0 if value > 0 else 0.0)
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(label[:28])}</text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{_BAR}"/>')
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h - 5}">{escape(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def trend(points: list[tuple[str, float | None]], width: int = 150, height: int = 44) -> str:
    """A small line over the last weeks; missing values are skipped."""
    known = [(i, v) for i, (_, v) in enumerate(points) if v is not None]
    if len(points) < 2 or not known:
        return ""
    lo, hi = min(v for _, v in known), max(v for _, v in known)
    rng = (hi - lo) or 1.0
    step = (width - 12) / (len(points) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 6 + i * step, height - 14 - (v - lo) / rng * (height - 22)

    coords = [xy(i, v) for i, v in known]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    title = ", ".join(f"{w}: {'n/a' if v is None else f'{v:.1f}'}" for w, v in points)
    out = [f'<svg class="trend" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
           f'<polyline points="{path}" fill="none" stroke="{_TREND}" stroke-width="2"/>']
    for x, y in coords:
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{_TREND}"/>')
    out.append(f'<text x="6" y="{height - 2}" class="tick">{escape(points[0][0][-3:])}</text>')
    out.append(f'<text x="{width - 6}" y="{height - 2}" text-anchor="end" class="tick">{escape(points[-1][0][-3:])}</text>')
    out.append("</svg>")
    return "".join(out)


def heatmap(grid: list[list[float]], width: int = 680) -> str:
    """Lost seconds by weekday (rows, Monday first) and hour of day (24 columns)."""
    label_w, top_h = 40, 16
    cell = (width - label_w) / 24
    height = top_h + 7 * cell + 2
    peak = max((v for row in grid for v in row), default=0.0) or 1.0
    out = [f'<svg class="chart heatmap" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height:.0f}" viewBox="0 0 {width} {height:.0f}">']
    for h in range(0, 24, 3):
        out.append(f'<text x="{label_w + h * cell + 2:.1f}" y="11" class="tick">{h:02d}h</text>')
    for d, row in enumerate(grid):
        y = top_h + d * cell
        out.append(f'<text x="{label_w - 6}" y="{y + cell * 0.65:.1f}" text-anchor="end">{DAYS[d]}</text>')
        for h, v in enumerate(row):
            alpha = 0.06 + 0.94 * (v / peak) if v > 0 else 0.0
            fill = f"rgba(192,57,43,{alpha:.2f})" if v > 0 else "#f3f3f3"
            out.append(f'<rect x="{label_w + h * cell:.1f}" y="{y:.1f}" width="{cell - 1:.1f}" height="{cell - 1:.1f}" '
                       f'fill="{fill}"><title>{DAYS[d]} {h:02d}:00 {v / 3600:.2f} h</title></rect>')
    out.append("</svg>")
    return "".join(out)
