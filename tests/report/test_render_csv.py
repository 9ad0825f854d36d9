"""CSV: a zip with one table per section that a spreadsheet (or csv.reader) reads back exactly."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from collector.report.render import render


def _tables(data: bytes) -> dict[str, list[dict]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name.rsplit("/", 1)[1]: list(csv.DictReader(io.StringIO(z.read(name).decode())))
                for name in z.namelist()}


def test_one_csv_per_section(report):
    t = _tables(render(report, "csv"))
    assert {"totals.csv", "by_type.csv", "by_app.csv", "by_site.csv", "by_department.csv", "connectivity_causes.csv",
            "connectivity_sites.csv", "heatmap.csv", "repeat_devices.csv", "trend.csv", "findings.csv",
            "method.csv", "app_versions.csv"} <= set(t)
    totals = {r["figure"]: r for r in t["totals.csv"]}
    assert float(totals["lost_seconds"]["value"]) == pytest.approx(report["totals"]["lost_seconds"])
    assert [r["type"] for r in t["by_type.csv"]] == [x["type"] for x in report["by_type"]]
    assert sum(float(r["lost_seconds"]) for r in t["by_site.csv"]) == pytest.approx(report["totals"]["lost_seconds"])
    assert len(t["heatmap.csv"]) == 7 and len(t["heatmap.csv"][0]) == 25


def test_empty_week(empty_report):
    t = _tables(render(empty_report, "csv"))
    assert t["by_type.csv"] == [] and len(t["totals.csv"]) == len(empty_report["totals"])
