"""Render a report dict into one of its output formats (each renderer is imported only when asked for)."""

from __future__ import annotations

from collector.report import ReportError

FORMATS = ("html", "pdf", "md", "csv", "json")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "csv": "application/zip",
    "json": "application/json",
}
EXTENSIONS = {"html": "html", "pdf": "pdf", "md": "md", "csv": "zip", "json": "json"}


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
