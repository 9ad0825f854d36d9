"""/metrics reconciles with the database: every impact figure equals the stored data's own totals."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time
from collections import defaultdict

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from collector import aggregates, impact
from collector.aggregates import discover, queries
from collector.aggregates.refresh import refresh, to_disruption
from collector.config import parse_config
from collector.models import event_table
from tests.collector.batches import batch, event, heartbeat
from tests.collector.conftest import AGENT, make_api
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN

NOW = time.time()
H = int(NOW // 3600 * 3600) - 2 * 86400
SITES = {"device-recon-0001": ("Paris", "Finance", "linux"), "device-recon-0002": ("Paris", "Sales", "windows"),
         "device-recon-0003": ("Lyon", "Sales", "macos")}


@pytest.fixture
def app(db_engine, db_url):
    config = parse_config({"apps": ["firefox", "erp"],
                           "model": {"hourly_cost": 55, "currency": "EUR", "department_hourly_cost": {"Finance": 80}},
                           "report": {"min_group_size": 1}},  # groups of one device: the figures, not the rule
                          overrides={"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN}, env={})
    return make_api(db_engine, config)


def _post(app, device, events=(), heartbeats=()):
    r = app.post(gzip.compress(json.dumps(batch(list(events), list(heartbeats), device_id=device)).encode()),
                 headers={**AGENT, "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text


def _fill(app):
    for i, (dev, (site, dept, os_name)) in enumerate(SITES.items()):
        hbs = [heartbeat(H + 300 * (k + 1), site=site, department=dept, os=os_name, interval_s=300,
                         active_s=[300, 150, 0][i]) for k in range(40)]
        hbs.append(heartbeat(NOW - 30, site=site, department=dept, os=os_name, interval_s=60, active_s=60))
        _post(app, dev, heartbeats=hbs)
        _post(app, dev, events=[
            event("hang", "firefox", H + 600 + i, duration_s=200, active_s=100, details={"app_version": "115.0"}),
            event("crash", "firefox", H + 700, details={"app_version": "116.0"}),
            event("connectivity_loss", "network", H + 2000, duration_s=400, details={"cause": "no_route"}),
            event("connectivity_loss", "network", H + 5000, duration_s=90, details={"cause": "something-new"}),
            event("slow_app", "erp", H + 8000, duration_s=60, active_s=60, details={"excess_s": 20}),
            event("crash", "solitaire", H + 9000),
        ])
    # a disruption going on right now, and an old one that ended long ago
    _post(app, "device-recon-0001", events=[event("hang", "erp", NOW - 120, duration_s=100)])


def _scrape(app) -> tuple[str, dict[str, dict[tuple, float]]]:
    r = app.client.get("/metrics")
    assert r.status_code == 200
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return r.text, out


def _by(samples: dict[tuple, float], *labels: str) -> dict[tuple, float]:
    acc: dict[tuple, float] = defaultdict(float)
    for key, value in samples.items():
        d = dict(key)
        acc[tuple(d[k] for k in labels)] += value
    return dict(acc)


def _q(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def _approx(d):
    return pytest.approx(d, abs=1e-6)


def test_metrics_equal_the_database_totals(app):
    engine, config = app.engine, app.config
    _fill(app)
    refresh(engine, config)
    text, m = _scrape(app)
    with engine.connect() as conn:  # catalogued names, the executables discovered on arrival, else other
        label = discover.AppLabels(config, discover.read(conn)).label

    # disruptions: straight from the events table
    expected = defaultdict(float)
    for type_, app_name, site, dept, os_name in _q(engine, "SELECT e.type, e.app, d.site, d.department, d.os "
                                                            "FROM event e JOIN device d ON d.id = e.device_id"):
        expected[(type_, label(type_, app_name), site, dept, os_name)] += 1
    assert _by(m["hinder_disruptions_total"], "type", "app", "site", "department", "os") == dict(expected)

    # active seconds: the heartbeats' own sum (no overlaps in this data set)
    expected = defaultdict(float)
    for site, dept, active in _q(engine, "SELECT d.site, d.department, h.active_s FROM heartbeat h "
                                         "JOIN device d ON d.id = h.device_id"):
        expected[(site, dept)] += active
    assert _by(m["hinder_active_seconds_total"], "site", "department") == _approx(dict(expected))

    # lost seconds: the impact model run from scratch on each device's stored rows
    cfg = aggregates.model_config(config)
    expected = defaultdict(float)
    # and the scores' impacted seconds (model rule 7): the active seconds of the device-hours whose lost time
    # (all causes; for an app, its own) reached the threshold
    impacted, app_impacted = defaultdict(float), defaultdict(float)
    with engine.connect() as conn:
        for dev, (site, dept, _os) in SITES.items():
            evs = [to_disruption(r) for r in conn.execute(
                sa.select(event_table).where(event_table.c.device_id == dev)).mappings()]
            hbs = [impact.Interval(*r) for r in conn.execute(
                sa.text("SELECT time, interval_s, active_s FROM heartbeat WHERE device_id = :d"), {"d": dev})]
            hours = impact.device_hours(evs, hbs, cfg)
            by_hour, by_app = defaultdict(float), defaultdict(lambda: defaultdict(float))
            for (h, type_, app_name), v in hours.lost.items():
                expected[(type_, label(type_, app_name), site, dept)] += v
                by_hour[h] += v
                by_app[label(type_, app_name)][h] += v
            impacted[(site, dept)] += sum(hours.active.get(h, 0.0) for h, v in by_hour.items()
                                          if v >= cfg.impacted_hour_lost_s)
            for app_name, app_hours in by_app.items():
                app_impacted[app_name] += sum(hours.active.get(h, 0.0) for h, v in app_hours.items()
                                              if v >= cfg.impacted_hour_lost_s)
    lost = _by(m["hinder_lost_seconds_total"], "type", "app", "site", "department")
    assert {k: v for k, v in lost.items() if v} == _approx(dict(expected))
    assert sum(lost.values()) > 600  # the data set really loses time

    # trailing week gauges: the same figures through the query API (all data is inside the week)
    with engine.connect() as conn:
        week_rows = queries.lost_by(conn, *aggregates.week_window(NOW), ["type", "app", "site", "department"])
        active_rows = queries.active_by(conn, *aggregates.week_window(NOW), ["site", "department"])
    week = {(t, label(t, a), s, d): lost_s for t, a, s, d, lost_s, _n in week_rows}
    week_lost = _by({tuple(zip(("type", "app", "site", "department"), k)): v for k, v in week.items()},
                    "type", "app", "site", "department")
    assert {k: v for k, v in _by(m["hinder_week_lost_seconds"], "type", "app", "site", "department").items() if v} == \
        _approx({k: v for k, v in week_lost.items() if v})
    active = {(s, d): active_s for s, d, active_s, _impacted in active_rows}
    assert _by(m["hinder_week_active_seconds"], "site", "department") == _approx(active)
    assert {k: v for k, v in _by(m["hinder_week_impacted_seconds"], "site", "department").items() if v} == \
        _approx({k: v for k, v in impacted.items() if v})
    assert 0 < sum(impacted.values()) < sum(active.values())  # some hours impacted, not all
    assert {k: v for k, v in _by(m["hinder_impacted_seconds_total"], "site", "department").items() if v} == \
        _approx({k: v for k, v in impacted.items() if v})  # all the data is inside the week
    scores = _by(m["hinder_experience_score_ratio"], "site", "department")
    assert set(scores) == set(active)
    for (site, dept), value in scores.items():
        assert value == pytest.approx(1 - impacted[(site, dept)] / active[(site, dept)])
    app_scores = _by(m["hinder_app_experience_score_ratio"], "app")
    first_day, end = aggregates.week_window(NOW)
    denominators = dict(_q(engine, f"SELECT app, SUM(active_s) FROM app_active_daily WHERE day >= {first_day} "
                                   f"AND day < {end} GROUP BY app"))
    for (app_name,), value in app_scores.items():
        assert value == pytest.approx(1 - app_impacted[app_name] / denominators[app_name])
    assert set(app_scores) == {("firefox",), ("erp",), ("solitaire",), ("other",)}  # solitaire: discovered
    assert min(app_scores.values()) < 1  # an application impacted some hours

    # connectivity outages by cause (unknown causes are "other")
    assert _by(m["hinder_connectivity_outages_total"], "cause", "site") == {
        ("no_route", "Paris"): 2, ("other", "Paris"): 2, ("no_route", "Lyon"): 1, ("other", "Lyon"): 1}
    assert _by(m["hinder_connectivity_outage_seconds_total"], "cause") == _approx({("no_route",): 1200.0, ("other",): 270.0})
    # versions of catalogued and discovered apps
    versions = _by(m["hinder_app_version_disruptions_total"], "app", "version", "type")
    assert versions == {("firefox", "115.0", "hang"): 3, ("firefox", "116.0", "crash"): 3,
                        ("erp", "unknown", "slow_app"): 3, ("erp", "unknown", "hang"): 1,
                        ("solitaire", "unknown", "crash"): 3}
    # devices disrupted now: only the ongoing hang
    assert _by(m["hinder_devices_disrupted"], "type", "site") == {("hang", "Paris"): 1}
    # hourly cost per department, with the override
    assert _by(m["hinder_hourly_cost"], "department", "currency") == {
        ("Finance", "EUR"): 80.0, ("Sales", "EUR"): 55.0}
    assert _by(m["hinder_collector_info"], "model_version") == {("3",): 1.0}

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert check.returncode == 0 and not check.stdout and not check.stderr, (check.stdout + check.stderr).decode()


def test_counters_never_decrease_when_a_late_event_moves_seconds(app):
    engine, config = app.engine, app.config
    dev = "device-recon-0001"
    _post(app, dev, heartbeats=[heartbeat(H + 60 * (k + 1), interval_s=60, active_s=60) for k in range(60)],
          events=[event("hang", "firefox", H + 600, duration_s=300, active_s=300)])
    refresh(engine, config)
    _, before = _scrape(app)
    _post(app, dev, events=[event("connectivity_loss", "network", H + 500, duration_s=600, active_s=600)])
    refresh(engine, config)
    _, after = _scrape(app)
    hang = _by(after["hinder_lost_seconds_total"], "type")[("hang",)]
    assert hang == _by(before["hinder_lost_seconds_total"], "type")[("hang",)] == pytest.approx(300.0)
    # the exact figure moved: the week gauge shows the hang lost nothing
    assert _by(after["hinder_week_lost_seconds"], "type") == _approx({("hang",): 0.0, ("connectivity_loss",): 600.0})


def test_fast_exposition_is_byte_identical_to_prometheus_client(app):
    from prometheus_client import generate_latest

    from collector.metrics import build_registry, render

    _fill(app)
    refresh(app.engine, app.config)
    registry, counters = build_registry(app.engine, app.config)
    counters.batches.labels("accepted").inc(3)  # a family with _created samples: written by prometheus_client
    registry.collect = _frozen(registry.collect)  # the same samples for both writers
    assert render(registry) == generate_latest(registry)
    assert b'hinder_lost_seconds_total{app="firefox"' in render(registry)


def _frozen(collect):
    metrics = list(collect())
    return lambda: iter(metrics)
