"""Device cohorts and the waits of boots and sign-ins on /metrics (issue 15), through the real ingest path, on
SQLite and PostgreSQL: exact figures from what was sent, a wait within its threshold counts no disruption, small
cohorts folded, hostile models bounded."""

from __future__ import annotations

import bisect
import random
import time
from collections import defaultdict

import pytest
import sqlalchemy as sa

from collector.aggregates import model_name
from collector.aggregates.refresh import refresh
from collector.aggregates.marks import WAIT_BUCKETS_S
from collector.models import device_table
from tests.collector.batches import event, heartbeat
from tests.collector.test_metrics_labels import _api, _post, _scrape
from tests.conftest import assert_promtool_clean

THRESHOLD_S = 60.0  # the agents' threshold in this fleet: the time beyond it is lost
FLEET = {  # device -> (vendor, model, OS build)
    **{f"device-t{i}": ("LENOVO", "ThinkPad T14 Gen 3", "22631.4460") for i in range(4)},
    **{f"device-l{i}": ("Dell Inc.", "Latitude 5420", "22631.4460") for i in range(3)},
    **{f"device-h{i}": ("HP", "EliteBook 840 G8", "19045.5371") for i in range(2)},  # too few: (other, other)
}
EXPORTED = {("LENOVO ThinkPad T14 Gen 3", "22631.4460"), ("Dell Inc. Latitude 5420", "22631.4460")}


def _wait(stage: str, start: float, seconds: float) -> dict:
    excess = max(0.0, seconds - THRESHOLD_S)
    return event(stage, "system", start, duration_s=seconds, details={"excess_s": excess} if excess else {})


def _send_fleet(api, rng: random.Random) -> dict:
    """Each device: two hours of fully active heartbeats, a boot then a sign-in in the last half hour."""
    now = time.time()
    sent = {"waits": [], "active": defaultdict(float)}
    for dev, (vendor, model, build) in FLEET.items():
        beats = [heartbeat(now - 7200 + 60 * k, active_s=60.0, os_build=build, hw_vendor=vendor, hw_model=model,
                           cpu_class="Intel Core i5", memory_bytes=16 << 30) for k in range(1, 121)]
        boot, logon = round(rng.uniform(20, 120), 1), round(rng.uniform(5, 90), 1)
        start = now - 400
        waits = [_wait("boot", start, boot), _wait("logon", start + boot + 5, logon)]
        _post(api, waits, beats, device_id=dev)
        cohort = (model_name(vendor, model), build)
        cohort = cohort if cohort in EXPORTED else ("other", "other")
        sent["waits"] += [(cohort, "boot", boot), (cohort, "logon", logon)]
        sent["active"][cohort] += 120 * 60.0
    return sent


def test_cohorts_and_waits_on_metrics(db_engine, db_url):
    api = _api(db_engine, db_url, {"report": {"min_group_size": 3}}, max_label_values=3)
    sent = _send_fleet(api, random.Random(15))
    text, m = _scrape(api)
    assert_promtool_clean(text)

    devices = {(s["hw_model"], s["os_build"]): v for s, v in m["hinder_cohort_devices"]}
    expected_devices = defaultdict(int)
    for vendor, model, build in FLEET.values():
        cohort = (model_name(vendor, model), build)
        expected_devices[cohort if cohort in EXPORTED else ("other", "other")] += 1
    assert devices == expected_devices
    assert "EliteBook" not in text and "19045" not in text

    # the histograms: every wait, within its threshold or not, in its bucket, by cohort
    buckets: dict[tuple, float] = defaultdict(float)
    sums: dict[tuple, float] = defaultdict(float)
    slow: dict[tuple, int] = defaultdict(int)
    lost: dict[tuple, float] = defaultdict(float)
    for cohort, stage, seconds in sent["waits"]:
        for le in WAIT_BUCKETS_S[bisect.bisect_left(WAIT_BUCKETS_S, seconds):]:
            buckets[(stage, *cohort, le)] += 1
        sums[(stage, *cohort)] += seconds
        slow[(stage, *cohort)] += seconds > THRESHOLD_S
        lost[cohort] += max(0.0, seconds - THRESHOLD_S)
    got = {(s["stage"], s["hw_model"], s["os_build"], float(s["le"])): v
           for s, v in m["hinder_startup_duration_seconds_bucket"]}
    assert got == {k: buckets.get(k, 0.0) for k in got} and set(buckets) <= set(got)
    got_sums = {(s["stage"], s["hw_model"], s["os_build"]): v for s, v in m["hinder_startup_duration_seconds_sum"]}
    assert got_sums.keys() == sums.keys()
    assert all(abs(got_sums[k] - sums[k]) < 1e-6 for k in sums)
    assert {(s["stage"], s["hw_model"], s["os_build"]): v for s, v in m["hinder_startup_slow_total"]} == slow

    # a wait within its threshold is no disruption: counted nowhere as one
    disruptions = defaultdict(float)
    for s, v in m["hinder_disruptions_total"]:
        disruptions[s["type"]] += v
    n_slow = {stage: sum(n for (st, *_c), n in slow.items() if st == stage) for stage in ("boot", "logon")}
    assert {t: v for t, v in disruptions.items() if v} == {t: n for t, n in n_slow.items() if n}
    disrupted = defaultdict(float)
    for s, v in m["hinder_devices_disrupted"]:
        disrupted[s["type"]] += v
    assert disrupted["boot"] == n_slow["boot"] and disrupted["logon"] == n_slow["logon"]  # one of each per device
    week = {(s["hw_model"], s["os_build"]): v for s, v in m["hinder_cohort_week_disruptions"]}
    assert week == {c: sum(n for (_st, *k), n in slow.items() if tuple(k) == c) for c in expected_devices}

    # the trailing week's lost and active time by cohort: the time beyond the threshold, employees fully active
    week_lost = {(s["hw_model"], s["os_build"]): v for s, v in m["hinder_cohort_week_lost_seconds"]}
    assert week_lost.keys() == expected_devices.keys()
    assert all(abs(week_lost[c] - lost[c]) < 1e-6 for c in lost)
    week_active = {(s["hw_model"], s["os_build"]): v for s, v in m["hinder_cohort_week_active_seconds"]}
    assert all(abs(week_active[c] - sent["active"][c]) < 1e-6 for c in sent["active"])


def test_hostile_models_stay_bounded(db_engine, db_url):
    """100 devices through ingest and 10,000 more in the device table, each with its own random 64-character
    model and build: /metrics names at most max_label_values of each, the rest counted as folded."""
    api = _api(db_engine, db_url, {"report": {"min_group_size": 1}}, max_label_values=5)
    rng = random.Random(7)

    def junk() -> str:
        return f"{rng.getrandbits(256):064x}"

    now = time.time()
    for d in range(100):
        _post(api, [_wait("boot", now - 600, 30.0 + d % 30)],
              [heartbeat(now, os_build=junk(), hw_vendor=junk(), hw_model=junk())], device_id=f"device-{d:05d}")
    with api.engine.begin() as conn:
        conn.execute(device_table.insert(), [
            {"id": f"bulkdev-{d:05d}", "first_seen": now, "os": "windows", "os_version": "11", "agent_version": "0.1.0",
             "site": "Paris", "department": "Sales", "os_build": junk(), "hw_vendor": junk(), "hw_model": junk(),
             "cpu_class": "unknown", "memory_bytes": 0, "spool_dropped_total": 0, "rejected_total": 0,
             "sensor_errors_total": 0, "last_details": {}} for d in range(10_000)])
    refresh(api.engine, api.config)
    started = time.perf_counter()
    text, m = _scrape(api)
    elapsed = time.perf_counter() - started
    assert_promtool_clean(text)
    for family in ("hinder_cohort_devices", "hinder_startup_duration_seconds_bucket", "hinder_startup_slow_total"):
        assert len({s["hw_model"] for s, _v in m[family]}) <= 5 + 1, family
        assert len({s["os_build"] for s, _v in m[family]}) <= 5 + 1, family
    assert len(m["hinder_cohort_devices"]) <= 6 * 6
    assert sum(v for _s, v in m["hinder_cohort_devices"]) == 10_100
    assert sum(v for _s, v in m["hinder_startup_slow_total"]) == 0  # every boot within the threshold
    assert sum(v for s, v in m["hinder_startup_duration_seconds_count"]) == 100
    folded = {(s["label"], s["reason"]): v for s, v in m["hinder_folded_devices"]}
    assert folded[("hw_model", "unlisted")] == folded[("os_build", "unlisted")] == 10_100 - 5
    print(f"scrape with 10,100 distinct cohorts: {elapsed * 1000:.0f} ms")
    with api.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(device_table)).scalar_one() == 10_100


def test_migration_17_fills_the_per_device_figures_as_the_refresher_keeps_them(db_engine, db_url):
    from collector.migrations.m0017_cohorts import BACKFILL

    api = _api(db_engine, db_url, {"report": {"min_group_size": 3}})
    _send_fleet(api, random.Random(16))
    refresh(api.engine, api.config)

    def figures():
        with api.engine.connect() as conn:
            return {table: {tuple(r[:-3]): tuple(round(v, 6) for v in r[-3:])
                            for r in conn.execute(sa.text(f"SELECT * FROM {table}")) if any(r[-3:])}
                    for table in ("device_daily", "device_week")}

    kept = figures()
    assert len(kept["device_week"]) == len(FLEET)
    with api.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM device_daily"))
        conn.execute(sa.text("DELETE FROM device_week"))
        for statement in BACKFILL:
            conn.execute(sa.text(statement))
    assert figures() == kept


def test_folded_cohorts_never_show_a_group_under_the_size():
    """Whatever the fleet, every exported (model, build) holds at least min_group_size devices but (other, other),
    and a model or build held by enough devices stays named."""
    from collector.labels import Cohorts

    rng = random.Random(4)
    for _ in range(2000):
        fleet: dict[tuple[str, str], int] = defaultdict(int)
        for _device in range(rng.randint(0, 40)):
            fleet[rng.choice("ABCDE"), rng.choice("123")] += 1
        k, limit = rng.randint(1, 8), rng.randint(1, 5)
        cohorts = Cohorts([(*pair, n) for pair, n in fleet.items()], limit, k)
        shown: dict[tuple[str, str], int] = defaultdict(int)
        for (model, build), n in fleet.items():
            shown[cohorts.pairs[model, build]] += n
        for (model, build), n in shown.items():
            assert (model, build) == ("other", "other") or n >= k
            assert model in cohorts.named[0] | {"other"} and build in cohorts.named[1] | {"other"}
        for model in cohorts.named[0]:  # a named model of k devices or more is shown, with some build
            if sum(n for (m, _b), n in fleet.items() if m == model) >= k:
                assert any(m == model for m, _b in shown)


def test_a_wait_within_its_threshold_costs_and_counts_nothing():
    from collector import impact

    full = [impact.Interval(end=3600.0 * (h + 1), interval_s=3600.0, active_s=3600.0) for h in range(3)]
    waits = [impact.Disruption("b1", "boot", "system", 600.0, 45.0, excess_s=None),
             impact.Disruption("b2", "boot", "system", 4000.0, 80.0, excess_s=20.0),
             impact.Disruption("l1", "logon", "system", 8000.0, 30.0, excess_s=0.0)]
    hours = impact.device_hours(waits, full, impact.ModelConfig())
    assert hours.disruptions == {(3600, "boot", "system"): 1}
    assert hours.lost == {(3600, "boot", "system"): pytest.approx(20.0)}
