"""The PDF: Chromium prints the HTML; poppler opens it, counts its pages, measures how full each is, reads each
page's text (a split table's header) and finds the charts' red."""

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


def _page_text(pdf_path, page: int) -> str:
    return subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf_path), "-"],
                          capture_output=True, text=True, check=True).stdout


def _fill(ppm: bytes) -> float:
    """How far down the page its lowest non-white pixel row is (0..1)."""
    width, height, rgb = ppm_pixels(ppm)
    stride = width * 3
    lowest = max((y for y in range(height) if min(rgb[y * stride:(y + 1) * stride]) < 235), default=-1)
    return (lowest + 1) / height


def _long_report(report: dict, rows: int = 70) -> dict:
    """The report of a large fleet's week: many devices with repeated problems (a table longer than a page)."""
    first = report["repeat_devices"][0]
    report["repeat_devices"] = [{**first, "device": f"d-{i:010x}", "disruptions": 40 - i // 3,
                                 "lost_seconds": 9000.0 - 60 * i} for i in range(rows)]
    return report


def test_pdf_pages_are_full_and_charts_drawn(report, tmp_path):
    """Measured on the demo report (200 simulated devices): its full pages reach 79-95 % of the page height, the
    last 30 %; a page the old forced page breaks left nearly empty reached 20-40 %."""
    need_chromium()
    need_poppler()
    pdf = render(_long_report(report), "pdf")
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / "report.pdf"
    pages = _pdf_pages(pdf, tmp_path)
    assert pages >= 3
    fills = [_fill(_page_ppm(path, p)) for p in range(1, pages + 1)]
    assert all(f > 0.7 for f in fills[:-1]), f"a page but the last is nearly empty: {fills}"
    texts = [_page_text(path, p) for p in range(1, pages + 1)]
    holding = [i for i, t in enumerate(texts) if "d-00000000" in t]  # pages holding rows of the long table
    assert len(holding) >= 2, "the long table is split over pages"
    for i in holding:
        assert "Device (pseudonym)" in texts[i], f"page {i + 1} holds rows of the table without its header"
    assert not any("0.0 points" in t or " 0%  vs." in t for t in texts)
    _, _, rgb = ppm_pixels(_page_ppm(path, 1))
    assert count_colour(rgb, BAR_RED) > 200, "the bar chart on page 1 is drawn"
    heat = next(i for i, t in enumerate(texts) if "When time was lost" in t) + 1
    _, _, rgb = ppm_pixels(_page_ppm(path, heat))
    assert count_colour(rgb, BAR_RED, tolerance=60) > 20, "the heat map is drawn"


def test_a_short_table_is_not_split(report, tmp_path):
    """Tables under SHORT_TABLE_ROWS rows stay on one page: every row of the sites table is on its header's page."""
    need_chromium()
    need_poppler()
    path = tmp_path / "report.pdf"
    pages = _pdf_pages(render(report, "pdf"), tmp_path)
    texts = [_page_text(path, p) for p in range(1, pages + 1)]
    for table_head, last_row in (("Site ", report["by_site"][-1]["site"]), ("Cause", report["connectivity"]["by_cause"][-1]["cause"])):
        page = next(t for t in texts if table_head in t)
        assert last_row in page


def test_empty_week_pdf(empty_report, tmp_path):
    need_chromium()
    need_poppler()
    pages = _pdf_pages(render(empty_report, "pdf"), tmp_path)
    fills = [_fill(_page_ppm(tmp_path / "report.pdf", p)) for p in range(1, pages + 1)]
    assert all(f > 0.7 for f in fills[:-1]), fills


def test_missing_chromium_is_a_clear_error(report, monkeypatch):
    monkeypatch.setenv("HINDER_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(ReportError, match="HINDER_CHROMIUM"):
        render(report, "pdf")
    monkeypatch.delenv("HINDER_CHROMIUM")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ReportError, match="apt-get install chromium"):
        render(report, "pdf")
