"""Time in applications on the collector: what counts of the focus totals, its rollups and /metrics (issue 14).

Everything goes through the real ingest path and the real /metrics on SQLite and PostgreSQL: a device-day counts
at most the device's active seconds in it, whatever order the totals and heartbeats arrive in and however its
periods overlap; a period sent again adds only its difference; nothing counted is taken back; the daily rollup
and the all-time counter agree with the stored rows.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregates import DAY, day_start, marks
from collector.config import parse_config
from collector.ingest import Ingestor
from collector.models import app_focus_daily_table, app_usage_table, heartbeat_table, impact_total_table
from tests.collector.batches import batch, body, heartbeat, usage
from tests.collector.conftest import make_api
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN

HOUR = 3600.0
APPS = ("excel", "sap-gui")


def _config(db_url: str, min_group_size: int = 1):
    overrides = {"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN, "max_batches_per_s": 0}
    return parse_config({"apps": list(APPS), "report": {"min_group_size": min_group_size}}, overrides=overrides,
                        env={})


class _Recorder:
    """An ingest hook keeping what each batch told the hooks about usage."""

    def __init__(self):
        self.batches: list[list[tuple[float, str, float]]] = []

    def __call__(self, _conn, stored):
        self.batches.append(sorted(stored.usage_added))


def _ingestor(db_engine, db_url, **kw):
    recorder = _Recorder()
    return Ingestor(db_engine, _config(db_url, **kw), hooks=[marks.on_ingest, recorder]), recorder


def _period(now: float, hours_ago: int = 3) -> float:
    """An hour of yesterday (10:00 UTC, earlier by ``hours_ago - 3``): its day holds the hours the tests use."""
    return day_start(now) - DAY + (13 - hours_ago) * HOUR


def _active_hour(period: float, active_s: float = HOUR, **kw) -> dict:
    """One heartbeat covering the whole period with ``active_s`` active seconds."""
    return heartbeat(period + HOUR, interval_s=HOUR, active_s=active_s, **kw)


def _counted(engine) -> dict[tuple[str, str, float], float]:
    u = app_usage_table.c
    with engine.connect() as conn:
        return {(d, a, s): c for d, a, s, c in conn.execute(sa.select(u.device_id, u.app, u.start, u.counted_s))}


def _daily(engine) -> dict[tuple, float]:
    t = app_focus_daily_table.c
    with engine.connect() as conn:
        return {(d, a, s, dep): v for d, a, s, dep, v in conn.execute(sa.select(t.day, t.app, t.site, t.department,
                                                                                  t.focus_s)) if abs(v) > 1e-9}


def _totals(engine) -> dict[tuple, tuple[float, float]]:
    t = impact_total_table.c
    with engine.connect() as conn:
        return {(a, s, d): (v, e) for a, s, d, v, e in conn.execute(
            sa.select(t.app, t.site, t.department, t.value, t.exported).where(t.metric == "focus"))}


def test_a_device_claiming_three_hours_of_focus_in_one_hour_counts_one(db_engine, db_url):
    ingestor, recorder = _ingestor(db_engine, db_url)
    now = time.time()
    period = _period(now)
    ingestor.store(batch(heartbeats=[_active_hour(period)],
                         usage=[usage("excel", period, HOUR), usage("sap-gui", period, HOUR),
                                usage("notepad", period, HOUR)]), now=now)
    day = day_start(period)
    assert recorder.batches == [[(day, "excel", 1200.0), (day, "notepad", 1200.0), (day, "sap-gui", 1200.0)]]
    assert sum(_counted(db_engine).values()) == pytest.approx(HOUR)
    # the uncatalogued application is counted under "other", as its disruptions are
    assert _daily(db_engine) == pytest.approx({(day, "excel", "Paris", "Finance"): 1200.0,
                                               (day, "sap-gui", "Paris", "Finance"): 1200.0,
                                               (day, "other", "Paris", "Finance"): 1200.0})


def test_focus_counts_only_what_the_heartbeats_saw_active_in_either_order(db_engine, db_url):
    ingestor, recorder = _ingestor(db_engine, db_url)
    now = time.time()
    period = _period(now)
    # device 1: the totals first (no heartbeat yet: nothing counts), then the heartbeat: half the hour active
    ingestor.store(batch(usage=[usage("excel", period, 3000.0)], device_id="device-0001"), now=now)
    ingestor.store(batch(heartbeats=[_active_hour(period, 1800.0)], device_id="device-0001"), now=now)
    # device 2: the heartbeat first, then the totals
    ingestor.store(batch(heartbeats=[_active_hour(period, 1800.0)], device_id="device-0002"), now=now)
    ingestor.store(batch(usage=[usage("excel", period, 3000.0)], device_id="device-0002"), now=now)
    day = day_start(period)
    assert recorder.batches == [[], [(day, "excel", 1800.0)], [], [(day, "excel", 1800.0)]]
    assert _counted(db_engine) == {("device-0001", "excel", period): 1800.0, ("device-0002", "excel", period): 1800.0}
    # more activity the same day lets the rest of the total count; a day later, nothing changes
    ingestor.store(batch(heartbeats=[_active_hour(period + HOUR)], device_id="device-0001"), now=now)
    assert recorder.batches[-1] == [(day, "excel", 1200.0)]
    ingestor.store(batch(heartbeats=[_active_hour(period + DAY)], device_id="device-0002"), now=now)
    assert recorder.batches[-1] == []


def test_a_resent_or_restarted_period_adds_only_the_difference(db_engine, db_url):
    ingestor, recorder = _ingestor(db_engine, db_url)
    now = time.time()
    period = _period(now)
    ingestor.store(batch(heartbeats=[_active_hour(period)], usage=[usage("excel", period, 600.0)]), now=now)
    # the agent restarted and sent the period again with its total so far, beside an older, smaller total; a retry
    ingestor.store(batch(usage=[usage("excel", period, 1500.0), usage("excel", period, 900.0)]), now=now)
    ingestor.store(batch(usage=[usage("excel", period, 1500.0)]), now=now)
    assert recorder.batches == [[(day_start(period), "excel", 600.0)], [(day_start(period), "excel", 900.0)], []]
    assert list(_daily(db_engine).values()) == [1500.0]
    assert _totals(db_engine) == {("excel", "Paris", "Finance"): (1500.0, 1500.0)}


def test_a_day_counts_at_most_its_active_seconds_and_nothing_counted_is_taken_back(db_engine, db_url):
    ingestor, recorder = _ingestor(db_engine, db_url)
    now = time.time()
    period = _period(now)
    day = day_start(period)
    ingestor.store(batch(heartbeats=[_active_hour(period)], usage=[usage("excel", period, 3000.0)]), now=now)
    ingestor.store(batch(usage=[usage("sap-gui", period, 1800.0)]), now=now)  # 4800 s claimed in 3600 active
    assert recorder.batches[-1] == [(day, "sap-gui", 600.0)]  # what is left of the day; excel keeps its 3000
    # overlapping periods of other lengths (quarters, the whole day) claim more of the same time: nothing is left
    ingestor.store(batch(usage=[usage("sap-gui", period, 900.0, interval_s=900.0),
                                usage("sap-gui", period + 900, 900.0, interval_s=900.0),
                                usage("winword", day, 20000.0, interval_s=DAY)]), now=now)
    assert recorder.batches[-1] == []
    assert _daily(db_engine) == {(day, "excel", "Paris", "Finance"): 3000.0, (day, "sap-gui", "Paris", "Finance"): 600.0}
    assert _totals(db_engine) == {("excel", "Paris", "Finance"): (3000.0, 3000.0),
                                  ("sap-gui", "Paris", "Finance"): (600.0, 600.0)}


def _scrape(api) -> dict[tuple, float]:
    r = api.client.get("/metrics")
    assert r.status_code == 200
    return {(s.labels["app"], s.labels["site"], s.labels["department"]): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples
            if s.name == "hinder_app_focus_seconds_total"}


def test_metrics_export_the_counted_focus_with_bounded_labels(db_engine, db_url):
    api = make_api(db_engine, _config(db_url, min_group_size=2))
    now = time.time()
    period = _period(now)
    sends = [("device-0001", "Paris", "Finance", [("excel", 1000.0), ("sap-gui", 500.0)]),
             ("device-0002", "Paris", "Finance", [("excel", 2000.0), ("winword", 700.0)]),
             ("device-0003", "Tiny", "Solo", [("excel", 400.0), ("other", 300.0)])]  # a group of one device
    for dev, site, department, apps in sends:
        r = api.post(body(batch(heartbeats=[_active_hour(period, site=site, department=department)], device_id=dev,
                                usage=[usage(app, period, s) for app, s in apps])))
        assert r.status_code == 200, r.text
    assert _scrape(api) == {("excel", "Paris", "Finance"): 3000.0, ("sap-gui", "Paris", "Finance"): 500.0,
                            ("other", "Paris", "Finance"): 700.0, ("excel", "other", "other"): 400.0,
                            ("other", "other", "other"): 300.0}


def test_random_arrivals_count_within_each_days_activity_and_the_rollups_agree(db_engine, db_url):
    """Totals and heartbeats of two devices over four hours, in random order and resent (one device's heartbeats
    all after its totals): each device-day counts at most its active seconds and each total at most itself, all of
    a day's totals when they fit its activity, and the daily rollup and the totals sum exactly the stored rows."""
    rng = random.Random(14)
    ingestor, _recorder = _ingestor(db_engine, db_url)
    now = time.time()
    first = _period(now, 6)
    sends, focus, active = [], {}, defaultdict(float)
    for dev in ("device-0001", "device-0002"):
        for h in range(4):
            period = first + h * HOUR
            seconds = rng.choice([0.0, 900.0, 2400.0, HOUR])
            active[dev] += seconds
            beats = [heartbeat(period + (m + 1) * 300, interval_s=300, active_s=seconds / 12) for m in range(12)]
            for app in ("excel", "sap-gui", "vim"):
                focus[(dev, app, period)] = s = rng.choice([0.0, 300.0, 600.0, 1800.0])
                partial = usage(app, period, s / 2)  # an earlier, smaller total of the same period
                sends += [(dev, {"usage": [partial]}), (dev, {"usage": [usage(app, period, s)]})]
            sends += [(dev, {"heartbeats": beats[:6]}), (dev, {"heartbeats": beats[6:]}), (dev, {"heartbeats": beats})]
    rng.shuffle(sends)
    sends.sort(key=lambda send: send[0] == "device-0001" and "heartbeats" in send[1])  # its totals all come first
    for dev, records in sends:
        ingestor.store(batch(device_id=dev, **records), now=now)
    counted = _counted(db_engine)
    for dev in ("device-0001", "device-0002"):
        mine = {k: v for k, v in counted.items() if k[0] == dev}
        claimed = sum(v for k, v in focus.items() if k[0] == dev)
        assert all(v <= focus[k] + 1e-6 for k, v in mine.items())
        assert sum(mine.values()) == pytest.approx(min(claimed, active[dev]))
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(heartbeat_table)).scalar_one() == 2 * 4 * 12
    by_label: dict[str, float] = defaultdict(float)
    for (_dev, app, _start), s in counted.items():
        by_label[app if app in APPS else "other"] += s
    daily: dict[str, float] = defaultdict(float)
    for (day, app, _site, _department), s in _daily(db_engine).items():
        assert day == day_start(first)
        daily[app] += s
    assert daily == pytest.approx({a: s for a, s in by_label.items() if s})
    assert {a: v for (a, _s, _d), (v, _e) in _totals(db_engine).items() if abs(v) > 1e-9} == pytest.approx(
        {a: s for a, s in by_label.items() if s})
