"""Markdown for chat and email: every section, the same numbers as the dict."""

from __future__ import annotations

from collector.report import fmt
from collector.report.render import render


def test_sections_and_numbers(report):
    md = render(report, "md").decode()
    for heading in ("## Headline", "## Findings", "## Lost time by disruption type", "## Applications by lost time",
                    "## Sites", "## Departments", "## Connectivity", "## When time was lost",
                    "## Devices with repeated problems", "## Method"):
        assert heading in md
    assert fmt.hours(report["totals"]["lost_seconds"]) in md
    assert "| outlook |" in md and "16.0.2" in md
    assert "| Nice |" not in md, "groups under the minimum size are not named"


def test_empty_week(empty_report):
    md = render(empty_report, "md").decode()
    assert "_No data this week._" in md and "No lost working time was recorded" in md
