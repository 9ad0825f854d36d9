"""The report as PDF: the very HTML page, printed by headless Chromium (same content and charts)."""

from __future__ import annotations

from collector.report import chromium
from collector.report.render_html import render_html


def render_pdf(report: dict) -> bytes:
    """Render a report dict to PDF bytes (A4, three or more pages)."""
    return chromium.run(render_html(report), "--print-to-pdf", "report.pdf", ("--no-pdf-header-footer",))
