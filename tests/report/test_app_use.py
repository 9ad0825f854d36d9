"""The report's hours of use and rates per hour of use per application (issue 14): exact figures, the threshold
under which an application has "not enough use", the finding, the renderers, and a week from a real database."""

from __future__ import annotations

import io
import zipfile

import pytest

from collector.impact import ModelConfig
from collector.report.assemble import WeekFacts, assemble
from collector.report.build import build_report, model_of
from collector.report.config import ReportSettings
from collector.report.render_csv import render_csv_zip
from collector.report.render_html import render_html
from collector.report.render_md import render_md
from tests.report.conftest import PERIOD

H = 3600.0


def _week(min_focus_hours: float = 10.0) -> dict:
    """sap-gui: 20 h of use, 4 crashes losing 1200 s; excel: 80 h, 2 hangs losing 600 s; teams: 5 h, 2 crashes;
    notepad: used 30 h, never disrupted."""
    f = WeekFacts(week="2026-W47", devices={f"d{i}": ("Paris", "Finance") for i in range(6)}, known_devices=6)
    f.active = {dev: 40 * H for dev in f.devices}
    f.lost = [("d0", "crash", 1200.0), ("d1", "hang", 600.0), ("d2", "crash", 300.0)]
    f.disruptions = [("d0", "crash", 4), ("d1", "hang", 2), ("d2", "crash", 2)]
    f.apps = [("sap-gui", "crash", 1200.0, 4), ("excel", "hang", 600.0, 2), ("teams", "crash", 300.0, 2)]
    f.app_focus = {"sap-gui": 20 * H, "excel": 80 * H, "teams": 5 * H, "notepad": 30 * H}
    settings = ReportSettings(min_focus_hours=min_focus_hours)
    return assemble([f], model_of(ModelConfig()), settings, PERIOD, "2026-11-23T06:00:00Z")


def test_rates_per_hour_of_use_are_exact_and_little_use_has_none():
    r = _week()
    apps = {a["app"]: a for a in r["by_app"]}
    sap, excel, teams, notepad = apps["sap-gui"], apps["excel"], apps["teams"], apps["notepad"]
    assert (sap["focus_hours"], sap["disruptions_per_100h"], sap["lost_minutes_per_hour"]) == (20.0, 20.0, 1.0)
    assert (excel["focus_hours"], excel["disruptions_per_100h"], excel["lost_minutes_per_hour"]) == (80.0, 2.5, 0.125)
    assert (notepad["disruptions_per_100h"], notepad["lost_minutes_per_hour"]) == (0.0, 0.0)  # used, never disrupted
    assert teams["focus_hours"] == 5.0 and not teams["enough_use"]
    assert teams["disruptions_per_100h"] is None and teams["lost_minutes_per_hour"] is None
    assert r["method"]["focus_seconds"] == 135 * H and r["app_use"]["rated_apps"] == 3
    assert any("135.0 h across the fleet" in note for note in r["method"]["notes"])


def test_the_threshold_is_a_setting():
    apps = {a["app"]: a for a in _week(min_focus_hours=25)["by_app"]}
    assert not apps["sap-gui"]["enough_use"] and apps["sap-gui"]["disruptions_per_100h"] is None
    assert apps["excel"]["enough_use"] and apps["notepad"]["enough_use"]
    apps = {a["app"]: a for a in _week(min_focus_hours=5)["by_app"]}
    assert apps["teams"]["disruptions_per_100h"] == 40.0


def test_an_application_disrupted_far_more_per_hour_of_use_is_a_finding():
    r = _week()
    # sap-gui: 20 per 100 h; the other rated applications (excel, notepad): 2 disruptions in 110 h
    text = next(f["text"] for f in r["findings"] if f["kind"] == "app_rate")
    assert text.startswith(f"sap-gui is disrupted {20 / (200 / 110):.1f}x more per hour of use than the fleet's "
                           f"other applications: 20.0 disruptions per 100 h of use against {200 / 110:.1f}")
    # teams (40 per 100 h) has too little use to be named, nor does it weigh in the others' rate
    assert all("teams" not in f["text"] for f in r["findings"])
    assert all(f["kind"] != "app_rate" for f in _week(min_focus_hours=25)["findings"])  # sap-gui unrated: none


def test_every_renderer_shows_the_rates_and_not_enough_use():
    r = _week()
    md, html = render_md(r), render_html(r)
    for text in (md, html):
        assert "Hours of use" in text and "not enough use" in text
    sap_line = next(line for line in md.splitlines() if line.startswith("| sap-gui"))
    assert "| 20.0 | 20.0 | 1.0 |" in sap_line
    teams_line = next(line for line in md.splitlines() if line.startswith("| teams"))
    assert "| 5.0 | not enough use | not enough use |" in teams_line
    with zipfile.ZipFile(io.BytesIO(render_csv_zip(r))) as z:
        rows = z.read("hinder-report-2026-W47/by_app.csv").decode().splitlines()
    header = rows[0].split(",")
    cells = {row.split(",")[0]: dict(zip(header, row.split(","))) for row in rows[1:]}
    assert cells["sap-gui"]["disruptions_per_100h"] == "20.0" and cells["teams"]["disruptions_per_100h"] == ""
    assert cells["teams"]["enough_use"] == "False"


# ------------------------------------------------------------------ from the database

WEEK, MONDAY = "2026-W45", 1793577600.0  # 2026-11-02 00:00 UTC
NOW = MONDAY + 7 * 86400 + 12 * H


@pytest.fixture
def config(db_url):
    from collector.config import parse_config

    return parse_config({"apps": ["sap-gui", "excel", "teams"], "report": {"min_focus_hours": 1}},
                        overrides={"db": db_url}, env={})


def test_a_week_from_the_database(db_engine, config):
    """One device, Monday 09:00-12:00 fully active. 09:00 sap-gui 2400 s, excel 1200 s; 10:00 both claim the
    whole hour; 11:00 excel 3600 s and teams 1200 s: 15,600 s claimed in one batch for 10,800 active seconds that
    day, so each total counts 10,800 / 15,600 of itself (collector.ingest._store_usage). Crashes of sap-gui at
    09:30, 10:30, 11:30 and of teams at 11:45 cost 180 s each (the default recovery)."""
    from collector.aggregates import marks
    from collector.aggregates.refresh import refresh
    from collector.ingest import Ingestor
    from contract.records import make_batch
    from tests.collector.batches import DEVICE, event, heartbeat, usage

    nine = MONDAY + 9 * H
    beats = [heartbeat(nine + (h + 1) * H, interval_s=H, active_s=H) for h in range(3)]
    totals = [usage("sap-gui", nine, 2400.0), usage("excel", nine, 1200.0), usage("sap-gui", nine + H, H),
              usage("excel", nine + H, H), usage("excel", nine + 2 * H, H), usage("teams", nine + 2 * H, 1200.0)]
    crashes = [event("crash", "sap-gui", nine + m * 60) for m in (30, 90, 150)]
    crashes.append(event("crash", "teams", nine + 165 * 60))
    ingestor = Ingestor(db_engine, config, hooks=[marks.on_ingest])
    ingestor.store(make_batch(DEVICE, crashes, beats, now=NOW, usage=totals), now=NOW)
    refresh(db_engine, config, now=NOW)
    r = build_report(db_engine, config, WEEK, now=NOW)
    apps = {a["app"]: a for a in r["by_app"]}
    sap, excel, teams = apps["sap-gui"], apps["excel"], apps["teams"]
    share = 3 * H / 15600
    assert sap["focus_seconds"] == pytest.approx(6000 * share) and sap["disruptions"] == 3
    assert sap["disruptions_per_100h"] == pytest.approx(300 / (6000 * share / H))
    assert sap["lost_minutes_per_hour"] == pytest.approx(540 / 60 / (6000 * share / H))
    assert excel["focus_seconds"] == pytest.approx(8400 * share) and excel["disruptions_per_100h"] == 0.0
    assert teams["focus_seconds"] == pytest.approx(1200 * share) and teams["disruptions_per_100h"] is None
    assert r["method"]["focus_seconds"] == pytest.approx(3 * H)
