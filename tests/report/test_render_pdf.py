"""The PDF: Chromium prints the HTML; poppler opens it, counts pages and finds the charts' red."""

from __future__ import annotations

import subprocess

import pytest

from collector.report import ReportError
from collector.report.render import render
from tests.report.conftest import count_colour, need_chromium, need_poppler, ppm_pixels

BAR_RED = (192, 57, 43)


def _pdf_pages(pdf: bytes, tmp_path) -> int:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def _page_ppm(pdf_path, page: int) -> bytes:
    return subprocess.run(["pdftoppm", "-r", "30", "-f", str(page), "-l", str(page), str(pdf_path)],
                          capture_output=True, check=True).stdout


def test_pdf_has_five_pages_with_charts(report, tmp_path):
    need_chromium()
    need_poppler()
    pdf = render(report, "pdf")
    assert pdf.startswith(b"%PDF-")
    assert _pdf_pages(pdf, tmp_path) == 5, "summary, where, connectivity and time, service desk, devices and method"
    width, height, rgb = ppm_pixels(_page_ppm(tmp_path / "report.pdf", 1))
    assert width > 200 and height > 300
    assert count_colour(rgb, BAR_RED) > 200, "the bar chart on page 1 is drawn"
    _, _, rgb3 = ppm_pixels(_page_ppm(tmp_path / "report.pdf", 3))
    assert count_colour(rgb3, BAR_RED, tolerance=60) > 20, "the heat map on page 3 is drawn"


def test_empty_week_pdf(empty_report, tmp_path):
    need_chromium()
    need_poppler()
    assert _pdf_pages(render(empty_report, "pdf"), tmp_path) == 5


def test_missing_chromium_is_a_clear_error(report, monkeypatch):
    monkeypatch.setenv("HINDER_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(ReportError, match="HINDER_CHROMIUM"):
        render(report, "pdf")
    monkeypatch.delenv("HINDER_CHROMIUM")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ReportError, match="apt-get install chromium"):
        render(report, "pdf")
