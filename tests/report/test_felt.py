"""The report's section "What employees felt": exact figures from a small constructed week, small groups merged and
withheld, the calibration's proposal, every renderer, and the section built from a real database."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from collector.aggregates import felt, marks
from collector.config import parse_config
from collector.impact import ModelConfig
from collector.ingest import Ingestor
from collector.report.assemble import WeekFacts, assemble
from collector.report.build import build_report, model_of
from collector.report.config import ReportSettings
from collector.report.render import render
from collector.report.week import week_bounds, week_label
from tests.collector.batches import batch, event, feedback, heartbeat
from tests.report.conftest import PERIOD

PARIS, NICE, LYON = ("Paris", "Finance"), ("Nice", "Legal"), ("Lyon", "Sales")


def _week(answers: list[tuple]) -> WeekFacts:
    f = WeekFacts(week="2026-W47")
    for dev, labels, *_ in answers:
        f.devices[dev] = labels
        f.active[dev] = 3600.0
    f.answers = answers
    return f


def _small_week() -> WeekFacts:
    """Five people in Paris answered about crashes of SAP GUI (3 x more than 15 minutes, a few minutes, no), a
    sixth did not answer; two in Nice about hangs of teams, three in Lyon about an uncatalogued app's crashes."""
    sap = ["over_15_minutes", "over_15_minutes", "over_15_minutes", "few_minutes", "none", "unanswered"]
    answers = [(f"d{i}", PARIS, "crash", "SAP GUI", a, 180.0) for i, a in enumerate(sap)]
    answers += [("d6", NICE, "hang", "teams", "lost_work", 40.0), ("d7", NICE, "hang", "teams", "few_minutes", 20.0)]
    answers += [(f"d{8 + i}", LYON, "crash", "other", a, 180.0) for i, a in enumerate(["lost_work", "none",
                                                                                          "over_15_minutes"])]
    return _week(answers)


def _report(f: WeekFacts, cfg: ModelConfig = ModelConfig()) -> dict:
    return assemble([f], model_of(cfg), ReportSettings(min_group_size=5), PERIOD, "now")


def test_the_section_compares_what_people_said_with_the_model():
    p = _report(_small_week())["felt"]
    assert (p["questions"], p["answered"], p["devices"], p["withheld"]) == (11, 10, 10, False)
    assert p["answer_rate"] == pytest.approx(10 / 11)
    sap, rest = p["by_app"]
    assert (sap["type"], sap["app"], sap["questions"], sap["answered"], sap["devices"]) == ("crash", "SAP GUI", 6, 5, 5)
    assert sap["shares"] == pytest.approx({"none": 0.2, "few_minutes": 0.2, "over_15_minutes": 0.6, "lost_work": 0.0})
    assert sap["model_seconds_each"] == 180.0 and sap["felt_seconds_each"] == pytest.approx(780.0)
    assert sap["text"] == ("Crashes of SAP GUI: the model counts 3 min each; people who answered said 'More than 15 "
                           "minutes' 60% of the time (they felt 13 min on average; 5 answers from 5 people).")
    # Nice's hangs of teams (2 people) and Lyon's crashes of an uncatalogued app (3) are each too few: they merge
    # to (hang, other) and (crash, other), then together to (other, other), 5 people
    assert (rest["type"], rest["app"], rest["questions"], rest["devices"]) == ("other", "other", 5, 5)
    assert rest["shares"] == pytest.approx({"none": 0.2, "few_minutes": 0.2, "over_15_minutes": 0.2, "lost_work": 0.4})
    assert rest["felt_seconds_each"] == pytest.approx(1020.0) and rest["model_seconds_each"] == pytest.approx(120.0)
    assert rest["text"] == ("Other disruptions: the model counts 2 min each; people who answered said 'I lost work' "
                            "40% of the time (they felt 17 min on average; 5 answers from 5 people).")
    paris, other = p["by_site"]
    assert (paris["site"], paris["questions"], paris["devices"], paris["withheld"]) == ("Paris", 6, 5, False)
    assert (other["site"], other["questions"], other["devices"], other["withheld"]) == ("other", 5, 5, False)
    assert p["calibration"] == []  # far fewer answers than a proposal needs


def test_a_small_group_is_withheld_and_so_is_the_next_smallest():
    """Totals minus the groups shown must not tell what a withheld group said."""
    answers = [(f"s{i}", PARIS, "crash", "SAP GUI", "over_15_minutes", 180.0) for i in range(6)]
    answers += [(f"t{i}", LYON, "hang", "teams", "few_minutes", 30.0) for i in range(5)]
    answers += [("n0", NICE, "crash", "notepad", "lost_work", 180.0)]
    p = _report(_week(answers))["felt"]
    assert [(g["type"], g["app"], g["withheld"]) for g in p["by_app"]] == [
        ("crash", "SAP GUI", False), ("hang", "teams", True), ("other", "other", True)]
    assert [(g["site"], g["withheld"]) for g in p["by_site"]] == [("Paris", False), ("Lyon", True), ("other", True)]
    assert not p["withheld"] and p["answered"] == 12


def test_no_group_is_shown_by_one_person():
    p = _report(_week([("d0", PARIS, "crash", "SAP GUI", "lost_work", 180.0)]))["felt"]
    assert p["withheld"] and p["shares"] is None
    assert [(g["type"], g["app"], g["withheld"]) for g in p["by_app"]] == [("other", "other", True)]
    for r in (p, *p["by_app"], *p["by_site"], *p["by_department"]):
        assert r["felt_seconds_each"] is None


def test_the_section_shows_the_calibration_and_says_the_model_is_unchanged():
    answers = [(f"d{i % 5}", PARIS, "crash", "SAP GUI", "lost_work" if i % 2 else "few_minutes", 180.0)
               for i in range(20)]
    r = _report(_week(answers), ModelConfig(app_crash_recovery_s={"SAP GUI": 240.0}))
    assert r["felt"]["calibration"] == [
        {"type": "crash", "app": None, "setting": "crash_recovery_s", "recovery_seconds": 1050,
         "current_seconds": 180.0, "answers": 20, "devices": 5},
        {"type": "crash", "app": "SAP GUI", "setting": "app_crash_recovery_s", "recovery_seconds": 1050,
         "current_seconds": 240.0, "answers": 20, "devices": 5}]
    md = render(r, "md").decode()
    assert "## What employees felt" in md and "The model is unchanged until an administrator applies them" in md
    html = render(r, "html").decode()
    assert "<h2>What employees felt</h2>" in html and "app_crash_recovery_s" in html


def test_every_renderer_has_the_section():
    r = _report(_small_week())
    md = render(r, "md").decode()
    assert "Crashes of SAP GUI: the model counts 3 min each" in md
    assert "| Paris | 6 | 5 | 20% | 20% | 60% | 0% | 13 min | 3 min |" in md
    assert "| other | 5 | 5 | 20% | 20% | 20% | 40% | 17 min | 2 min |" in md  # Lyon and Nice, too small alone
    withheld = render(_report(_week([("d0", NICE, "hang", "teams", "none", 20.0)])), "md").decode()
    assert "| other | 1 |  |  |  |  |  |  | under 1 min |" in withheld
    html = render(r, "html").decode()
    assert "people who answered said &#x27;More than 15 minutes&#x27; 60% of the time" in html
    with zipfile.ZipFile(io.BytesIO(render(r, "csv"))) as z:
        by_app = z.read("hinder-report-2026-W47/felt_by_app.csv").decode().splitlines()
    assert by_app[0].startswith("type,app,questions,answered,answer_rate,devices,withheld")
    assert by_app[1].startswith("crash,SAP GUI,6,5,")
    assert "no pulse question" in render(_report(WeekFacts(week="2026-W47")), "md").decode().lower()


def test_the_section_from_the_database(db_engine, db_url):
    """Answers stored through ingest, read back for the week by the report (joined to their events there)."""
    config = parse_config({"apps": ["sap"], "report": {"min_group_size": 5}}, overrides={"db": db_url}, env={})
    ingestor = Ingestor(db_engine, config, hooks=[marks.on_ingest, felt.on_ingest])
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday() + 7)
    start, end = week_bounds(monday)
    tuesday = start + 86400 + 10 * 3600
    answers = ["over_15_minutes", "over_15_minutes", "over_15_minutes", "few_minutes", "none"]
    for i, answer in enumerate(answers):
        crash = event(app="sap", start=tuesday + i)
        ingestor.store(batch([crash], [heartbeat(tuesday + 60, site="Paris", department="Finance")],
                             device_id=f"device-{i:04d}",
                             feedback=[feedback(crash["id"], answer, tuesday + 120)]))
    late = event(app="sap", start=end - 10)  # asked after the week ended: next week's
    ingestor.store(batch([late], device_id="device-0000", feedback=[feedback(late["id"], "lost_work", end + 5)]))
    p = build_report(db_engine, config, week=week_label(monday), now=time.time())["felt"]
    (sap,) = p["by_app"]
    assert (sap["type"], sap["app"], sap["questions"], sap["devices"]) == ("crash", "sap", 5, 5)
    assert sap["shares"]["over_15_minutes"] == pytest.approx(0.6) and sap["model_seconds_each"] == 180.0
    assert [g["department"] for g in p["by_department"]] == ["Finance"]
