"""Findings: three to five sentences, each backed by the report's own numbers."""

from __future__ import annotations

from collector.report import fmt
from collector.report.findings import findings


def test_three_to_five_with_figures(report):
    out = report["findings"]
    assert 3 <= len(out) <= 5
    texts = " ".join(f["text"] for f in out)
    top = report["by_type"][0]
    assert f"{fmt.type_label(top['type'])} caused {fmt.pct(top['share'])} of all lost time" in texts
    assert "outlook lost the most time" in texts and "version 16.0.2 had 86% of its disruptions" in texts


def test_trend_when_lost_time_doubled(report):
    report["previous"]["lost_seconds"] = report["totals"]["lost_seconds"] / 2
    texts = [f["text"] for f in findings(report)]
    assert any(t.startswith("Lost time rose 100% against last week") for t in texts)


def test_connectivity_and_worst_site(report):
    kinds = {f["kind"]: f["text"] for f in findings(report)}
    assert "Lyon" in kinds.get("connectivity", "") + kinds.get("site", "")


def test_quiet_week(empty_report):
    out = findings(empty_report)
    assert out[0]["text"] == "No lost working time was recorded in week 2026-W47."
    assert "No device reported" in out[1]["text"]
