"""The weekly impact report for CIOs.

``build.build_report`` computes one plain, JSON-ready dict for an ISO week
from the collector database (through the impact model's aggregates); every
output format is rendered from that dict alone, so all formats always show the
same numbers. ``render(report, fmt)`` returns the bytes of one format.

Top-level keys of the report dict (stable; see docs/report.md):
``schema, week, period, generated_at, company, currency, model_version,
model_parameters, min_group_size, totals, previous, trend, headline, by_type,
by_app, by_site, by_department, connectivity, heatmap, repeat_devices,
findings, method``.
"""

from __future__ import annotations

FORMATS = ("html", "pdf", "md", "csv", "json")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "csv": "application/zip",
    "json": "application/json",
}
EXTENSIONS = {"html": "html", "pdf": "pdf", "md": "md", "csv": "zip", "json": "json"}


class ReportError(RuntimeError):
    """The report cannot be produced (bad week, missing tool, unreachable source)."""


def render(report: dict, fmt: str) -> bytes:
    """Render a report dict into one of FORMATS."""
    if fmt == "json":
        import json

        return (json.dumps(report, indent=2, sort_keys=False) + "\n").encode()
    if fmt == "html":
        from collector.report.render_html import render_html

        return render_html(report).encode()
    if fmt == "md":
        from collector.report.render_md import render_md

        return render_md(report).encode()
    if fmt == "csv":
        from collector.report.render_csv import render_csv_zip

        return render_csv_zip(report)
    if fmt == "pdf":
        from collector.report.render_pdf import render_pdf

        return render_pdf(report)
    raise ReportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
