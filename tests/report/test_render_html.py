"""The HTML: self-contained, escaped, and rendered by real headless Chromium into a non-blank PNG."""

from __future__ import annotations

import re
from html import escape

from collector.report import chromium
from collector.report.render import render
from collector.report.render_html import render_html
from tests.report.conftest import need_chromium, png_rows, synthetic_report


def test_self_contained(report):
    html = render_html(report)
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html), "no external resources"
    assert "@import" not in html and "url(" not in html
    assert html.count("<svg") == 3 + len(report["headline"]), "bars, trends and heat map are inline SVG"
    assert "Example Corp" in html and "2026-W47" in html
    for f in report["findings"]:
        assert escape(f["text"]) in html


def test_escapes_names():
    r = synthetic_report(company="<script>alert(1)</script> & Co")
    html = render_html(r)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_empty_week_renders(empty_report):
    html = render(empty_report, "html").decode()
    assert "No disruptions were recorded this week." in html
    assert "No lost working time was recorded" in html


def test_chromium_renders_a_non_blank_page(report, tmp_path):
    need_chromium()
    png = chromium.screenshot(render_html(report), width=1000, height=1800)
    (tmp_path / "report.png").write_bytes(png)
    width, height, rows = png_rows(png)
    assert (width, height) == (1000, 1800)
    assert len(set(rows)) > 200, "a blank page has (almost) identical rows"


def test_chromium_renders_the_empty_report(empty_report):
    need_chromium()
    _, _, rows = png_rows(chromium.screenshot(render_html(empty_report), width=900, height=900))
    assert len(set(rows)) > 50
