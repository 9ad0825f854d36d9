"""The report's figures equal the collector's /metrics and the database's own sums for the same week.

The database holds only the hand-computed week (tests/report/dataset.py), so
the counters on /metrics, which cover all stored data, cover exactly that week.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from collector.report.assemble import APP_TYPES, VERSION_TYPES
from collector.report.build import build_report
from collector.report.week import parse_week, week_bounds
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN
from tests.report import dataset as ds
from tests.report.conftest import store_dataset


@pytest.fixture
def week_only(db_engine, config):
    # refreshed on the Wednesday: the trailing week of the gauges holds the Monday, the data set's only day
    store_dataset(db_engine, config, only_week=True, refresh_at=ds.MONDAY + 2.5 * 86400)
    return db_engine


@pytest.fixture
def scraped(week_only, config) -> dict[str, list[tuple[dict, float]]]:
    from collector.api.app import create_app

    report = build_report(week_only, config, ds.WEEK)  # store_dataset refreshed the aggregates /metrics reads too
    config.collector.agent_tokens = [AGENT_TOKEN]
    config.collector.admin_token = ADMIN_TOKEN
    with TestClient(create_app(config, week_only, background_jobs=False)) as client:
        text = client.get("/metrics").text
    samples: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name].append((s.labels, s.value))
    return {"report": report, "samples": samples}


def _sum(samples, name: str, by: str | None = None, **match) -> dict | float:
    rows = [(labels, v) for labels, v in samples[name]
            if all(labels.get(k) in (v_ if isinstance(v_, tuple) else (v_,)) for k, v_ in match.items())]
    assert samples[name], f"{name} is not on /metrics"
    if by is None:
        return sum(v for _, v in rows)
    out: dict[str, float] = defaultdict(float)
    for labels, v in rows:
        out[labels[by]] += v
    return dict(out)


def test_totals_and_breakdowns_equal_metrics(scraped):
    r, m = scraped["report"], scraped["samples"]
    t = r["totals"]
    assert _sum(m, "hinder_lost_seconds_total") == pytest.approx(t["lost_seconds"]) == pytest.approx(5100.0)
    assert _sum(m, "hinder_active_seconds_total") == pytest.approx(t["active_seconds"])
    assert _sum(m, "hinder_disruptions_total") == t["disruptions"]
    assert _sum(m, "hinder_lost_seconds_total", "type") == pytest.approx({x["type"]: x["lost_seconds"] for x in r["by_type"]})
    assert _sum(m, "hinder_disruptions_total", "type") == {x["type"]: x["disruptions"] for x in r["by_type"]}
    by_app = _sum(m, "hinder_lost_seconds_total", "app", type=tuple(APP_TYPES))
    assert {a: v for a, v in by_app.items() if v} == pytest.approx({a["app"]: a["lost_seconds"] for a in r["by_app"] if a["lost_seconds"]})
    sites = {s["site"]: s for s in r["by_site"]}
    lost_site = _sum(m, "hinder_lost_seconds_total", "site")
    active_site = _sum(m, "hinder_active_seconds_total", "site")
    for site in ("Paris", "Lyon"):
        assert lost_site[site] == pytest.approx(sites[site]["lost_seconds"])
        assert active_site[site] == pytest.approx(sites[site]["active_seconds"])
    # Nice (one device) is under the minimum group size: "other" in the report and on /metrics alike
    assert "Nice" not in lost_site and lost_site["other"] == pytest.approx(sites["other"]["lost_seconds"])
    # /metrics crosses site and department, the report does not: a department is named there only in pairs of at
    # least min_group_size devices (Lyon's five Sales devices); Paris' two Sales devices count as (Paris, other)
    report_depts = {d["department"]: d["lost_seconds"] for d in r["by_department"]}
    assert report_depts == pytest.approx({"Sales": 4200.0, "other": 900.0})
    assert _sum(m, "hinder_lost_seconds_total", "department") == pytest.approx({"Sales": 3000.0, "other": 2100.0})


def test_connectivity_versions_and_model_equal_metrics(scraped):
    r, m = scraped["report"], scraped["samples"]
    c = r["connectivity"]
    assert _sum(m, "hinder_connectivity_outages_total", "cause") == {x["cause"]: x["outages"] for x in c["by_cause"]}
    assert _sum(m, "hinder_connectivity_outage_seconds_total") == pytest.approx(c["outage_seconds"])
    outlook = next(a for a in r["by_app"] if a["app"] == "outlook")
    metric_versions = _sum(m, "hinder_app_version_disruptions_total", "version", app="outlook", type=VERSION_TYPES)
    assert {v["version"]: v["disruptions"] for v in outlook["versions"]} == {
        k: v for k, v in metric_versions.items() if k != "unknown"}
    info = m["hinder_collector_info"][0][0]
    assert info["model_version"] == r["model_version"]


def test_totals_equal_the_database(scraped, week_only):
    r = scraped["report"]
    ws, we = week_bounds(parse_week(ds.WEEK))
    with week_only.connect() as conn:
        events = conn.execute(sa.text("SELECT COUNT(*) FROM event WHERE start >= :s AND start < :e"), {"s": ws, "e": we}).scalar_one()
        active = conn.execute(sa.text("SELECT SUM(active_s) FROM heartbeat WHERE time > :s AND time <= :e"),
                              {"s": ws, "e": we}).scalar_one()
        devices = conn.execute(sa.text("SELECT COUNT(DISTINCT device_id) FROM heartbeat WHERE time > :s AND time <= :e"),
                               {"s": ws, "e": we}).scalar_one()
    assert r["totals"]["disruptions"] == events == ds.EXPECTED["disruptions"]
    assert r["totals"]["active_seconds"] == pytest.approx(active) == pytest.approx(ds.EXPECTED["active_seconds"])
    assert r["totals"]["devices"] == devices == ds.EXPECTED["devices"]


def test_scores_equal_metrics(scraped):
    """The experience scores (model version 3) by site, department and application, and the impacted seconds
    they divide, on /metrics (counters and the trailing week's gauges) and in the report."""
    r, m = scraped["report"], scraped["samples"]
    t = r["totals"]
    assert _sum(m, "hinder_impacted_seconds_total") == pytest.approx(t["impacted_seconds"]) == \
        pytest.approx(ds.EXPECTED["impacted_seconds"])
    assert _sum(m, "hinder_week_impacted_seconds") == pytest.approx(t["impacted_seconds"])
    # by site (by department, /metrics names only pairs of at least min_group_size devices: see above)
    impacted = _sum(m, "hinder_week_impacted_seconds", "site")
    active = _sum(m, "hinder_week_active_seconds", "site")
    by_metrics = {site: 100 * (1 - impacted[site] / active[site]) for site in active}
    assert by_metrics == pytest.approx({s["site"]: s["experience_score"] for s in r["by_site"]})
    assert by_metrics == pytest.approx(ds.EXPECTED["score_by_site"])
    scores = {labels["site"]: v for labels, v in m["hinder_experience_score_ratio"] if labels["department"] == "Sales"}
    assert scores["Lyon"] == pytest.approx(0.5)  # L1-L5: one of their two hours each
    apps = {labels["app"]: v for labels, v in m["hinder_app_experience_score_ratio"]}
    for a in r["by_app"]:
        assert 100 * apps[a["app"]] == pytest.approx(a["experience_score"]), a["app"]
    assert apps == pytest.approx({"outlook": 0.5, "teams": 1.0, "other": 0.5})
