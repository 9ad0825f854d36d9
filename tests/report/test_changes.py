"""The report's changes section: what each change did in words, small groups not judged, the finding of a
regression, every renderer, and the empty state."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from collector.aggregates.changes import ChangeSettings, Effect, judge
from collector.impact import ModelConfig
from collector.report.assemble import WeekFacts, assemble
from collector.report.build import model_of
from collector.report.config import ReportSettings
from collector.report.render import render
from tests.report.conftest import PERIOD, synthetic_week

H = 3600.0
FIRST_SEEN = 1795422600.0  # 2026-11-23T08:30:00Z


def _effect(subject: str, value: str, devices: int, before: tuple[int, float], after: tuple[int, float],
            kind: str = "app_version") -> Effect:
    """A change whose ``devices`` compared devices had (disruptions, active hours) before and after."""
    e = Effect(kind, subject, value, FIRST_SEEN, adopters=devices + 2, devices=devices,
               before_disruptions=before[0], before_active_s=before[1] * H, before_lost_s=before[0] * 180.0,
               after_disruptions=after[0], after_active_s=after[1] * H, after_lost_s=after[0] * 180.0)
    return judge(e, ChangeSettings(), ReportSettings().min_group_size)


def _report(changes: list[tuple[str, Effect]]) -> dict:
    settings = ReportSettings(company="Example Corp")
    weeks = [synthetic_week(f"2026-W{n}", 1.0, settings) for n in (45, 46, 47)]
    weeks[-1].changes = changes
    return assemble(weeks, model_of(ModelConfig()), settings, PERIOD, "2026-11-30T06:00:00Z")


REGRESSION = _effect("sap-gui", "7.70", 38, (27, 2660.0), (120, 2660.0))  # 1.0 then 4.5 per 100 h
STEADY = _effect("teams", "1.1", 30, (40, 2000.0), (43, 2100.0))
BUILD = _effect("os", "22631.4602", 12, (40, 900.0), (12, 880.0), kind="os_build")
FEW = _effect("outlook", "16.0.3", 3, (1, 200.0), (9, 200.0))


def test_each_change_in_words():
    rows = {r["subject"]: r for r in _report([("sap-gui", REGRESSION), ("teams", STEADY), ("os", BUILD),
                                              ("outlook", FEW)])["changes"]["rows"]}
    assert rows["sap-gui"]["text"] == ("Failures of sap-gui per 100 active hours: 1.02 before 7.70, 4.51 after, "
                                       "on 38 devices: worse, not noise (p < 0.001).")
    assert rows["sap-gui"]["ratio"] == pytest.approx(120 / 27) and rows["sap-gui"]["first_seen"] == "2026-11-23T08:30:00Z"
    assert rows["teams"]["verdict"] == "unclear" and "no clear change" in rows["teams"]["text"]
    assert rows["os"]["text"].startswith("Disruptions per 100 active hours: 4.44 before OS build 22631.4602, 1.36 "
                                         "after, on 12 devices: better, not noise")
    # three devices: never judged, however different their rates
    assert rows["outlook"]["verdict"] == "early"
    assert "too early or too few devices to judge (3 devices active before and after" in rows["outlook"]["text"]
    assert "at least 5 devices" in rows["outlook"]["text"]


def test_a_regression_is_a_finding():
    report = _report([("teams", STEADY), ("sap-gui", REGRESSION)])
    (finding,) = [f for f in report["findings"] if f["kind"] == "change"]
    assert finding["text"] == ("Since sap-gui 7.70 arrived, its 38 devices have 4.4 times as many failures of sap-gui "
                               "per active hour as before (1.0 then 4.5 per 100 h): a regression, not noise.")
    assert not [f for f in _report([("teams", STEADY), ("outlook", FEW)])["findings"] if f["kind"] == "change"]


def test_every_format_shows_the_section():
    report = _report([("sap-gui", REGRESSION), ("os", BUILD)])
    md = render(report, "md").decode()
    assert "## Changes this week and what they did" in md and "worse, not noise" in md and "| OS build |" in md
    html = render(report, "html").decode()
    assert "<h2>Changes this week and what they did</h2>" in html and "better, not noise" in html
    with zipfile.ZipFile(io.BytesIO(render(report, "csv"))) as z:
        rows = list(csv.DictReader(io.StringIO(z.read(f"hinder-report-{report['week']}/changes.csv").decode())))
    assert [(r["subject"], r["version"], r["verdict"]) for r in rows] == [("sap-gui", "7.70", "worse"),
                                                                          ("os", "22631.4602", "better")]


def test_nothing_changed():
    report = _report([])
    assert report["changes"]["rows"] == []
    line = "No application version or OS build was new to the fleet this week or the 7 days before."
    assert report["changes"]["empty"] == line
    assert line in render(report, "md").decode() and line in render(report, "html").decode()
    assert isinstance(WeekFacts(week="x").changes, list)
