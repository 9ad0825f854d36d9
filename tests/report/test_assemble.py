"""The report dict from known facts: sums, groups under the minimum size, versions, pseudonyms, trend."""

from __future__ import annotations

import json

import pytest

from collector.impact import ModelConfig
from collector.report.assemble import WeekFacts, assemble, pseudonym
from collector.report.build import model_of
from collector.report.config import ReportSettings
from tests.report.conftest import PERIOD, synthetic_report, synthetic_week


def test_totals_are_sums_of_the_facts(report):
    t = report["totals"]
    # 13 devices x (600 crash + 120 hang) + 5 Lyon devices x 900 outage, scaled by 1.3 in week 47
    assert t["lost_seconds"] == pytest.approx((13 * 720 + 5 * 900) * 1.3)
    assert t["active_seconds"] == 13 * 30 * 3600
    assert t["disruptions"] == 7 * 6 + 6 * 3 + 13 + 5 * 2
    assert t["devices"] == 13 and t["devices_affected"] == 13
    assert t["cost"] == pytest.approx(t["lost_seconds"] / 3600 * 60)
    # model v3: 2 impacted hours of 30 on each device, 4 in Lyon
    assert t["impacted_seconds"] == (8 * 2 + 5 * 4) * 3600
    assert t["experience_score"] == pytest.approx(100 * (1 - t["impacted_seconds"] / t["active_seconds"]))
    assert t["productivity_loss"] == pytest.approx(100 * t["lost_seconds"] / t["active_seconds"])
    assert {s["site"]: s["experience_score"] for s in report["by_site"]} == pytest.approx(
        {"Paris": 100 * (1 - 2 / 30), "Lyon": 100 * (1 - 4 / 30), "other": 100 * (1 - 2 / 30)})
    assert {a["app"]: a["experience_score"] for a in report["by_app"]} == pytest.approx(
        {"outlook": 100 * (1 - 1 / 30), "teams": 100 * (1 - 1 / 30)})
    assert t["employees_with_issues"] == 0 and t["employees_scored"] == 13
    assert sum(x["lost_seconds"] for x in report["by_type"]) == pytest.approx(t["lost_seconds"])
    assert sum(x["lost_seconds"] for x in report["by_site"]) == pytest.approx(t["lost_seconds"])
    assert sum(x["cost"] for x in report["by_department"]) == pytest.approx(t["cost"])
    json.dumps(report)  # JSON-ready


def test_by_type_and_app(report):
    types = {x["type"]: x for x in report["by_type"]}
    assert types["crash"]["lost_seconds"] == pytest.approx(13 * 600 * 1.3)
    assert types["connectivity_loss"]["devices"] == 5
    apps = {a["app"]: a for a in report["by_app"]}
    assert set(apps) == {"outlook", "teams"}, "network outages are not an application"
    assert apps["outlook"]["main_cause"] == "crash"
    assert apps["outlook"]["version"] == "16.0.2" and apps["outlook"]["version_share"] == pytest.approx(50 / 58)
    assert apps["teams"]["version"] is None, "a single version is not 'to blame'"


def test_groups_under_min_size_are_merged_into_other(report):
    sites = {s["site"]: s for s in report["by_site"]}
    assert set(sites) == {"Paris", "Lyon", "other"}
    assert sites["other"]["devices"] == 2 and sites["other"]["groups"] == 1
    depts = {d["department"]: d for d in report["by_department"]}
    # Finance (3) and Legal (2) are under 5: merged; Sales has 8
    assert set(depts) == {"Sales", "other"} and depts["other"]["devices"] == 5
    assert depts["other"]["groups"] == 2 and depts["Sales"]["groups"] == 1
    assert "Nice" not in json.dumps(report) and "Legal" not in json.dumps(report)
    for d in report["repeat_devices"]:
        assert d["site"] != "Nice" and d["department"] not in ("Finance", "Legal")
    assert report["connectivity"]["worst_sites"][0]["site"] == "Lyon"


def test_min_group_size_is_configurable():
    r = synthetic_report(min_group_size=2)
    assert {s["site"] for s in r["by_site"]} == {"Paris", "Lyon", "Nice"}
    r = synthetic_report(min_group_size=7)
    assert {s["site"] for s in r["by_site"]} == {"other"}


def test_repeat_devices_are_pseudonymous_and_stable_with_a_key():
    r1 = synthetic_report(pseudonym_key="secret-1")
    r2 = synthetic_report(pseudonym_key="secret-1")
    ids = [d["device"] for d in r1["repeat_devices"]]
    assert ids == [d["device"] for d in r2["repeat_devices"]]
    # threshold 5: the 7 devices with 6 crashes, and Lyon's odd devices (3 crashes + 1 hang + 2 outages)
    assert len(ids) == 9
    assert all(i.startswith("d-") and "device" not in i for i in ids)
    assert "device-0" not in json.dumps(r1)
    assert pseudonym("device-00", b"a") != pseudonym("device-00", b"b")


def test_headline_change_and_trend(report):
    lost = next(h for h in report["headline"] if h["key"] == "lost_hours")
    assert lost["change_pct"] == pytest.approx(1.3 / 1.2 - 1)
    assert [t["week"] for t in report["trend"]] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    assert report["previous"]["week"] == "2026-W46"


def test_empty_week_has_every_section(empty_report):
    r = empty_report
    assert r["totals"]["lost_seconds"] == 0 and r["totals"]["experience_score"] is None
    assert r["by_type"] == [] and r["by_app"] == [] and r["by_site"] == []
    assert all(h["change"] is None for h in r["headline"])
    assert r["findings"], "an empty week still says something"


def test_devices_with_events_but_no_active_time_count():
    f = synthetic_week("2026-W47")
    f.active = {}
    r = assemble([f], model_of(ModelConfig()), ReportSettings(), PERIOD, "now")
    assert r["totals"]["experience_score"] is None
    assert all(s["experience_score"] is None for s in r["by_site"])
    assert r["previous"]["devices"] == 0


def test_empty_facts_default():
    assert WeekFacts(week="x").heat == [[0.0] * 24 for _ in range(7)]
