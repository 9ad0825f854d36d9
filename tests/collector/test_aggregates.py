"""Hourly aggregates: ingest marks, refresh recomputes, rollups and totals stay equal to the hourly rows."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest
import sqlalchemy as sa

from collector import aggregates, impact
from collector.aggregates import day_start, marks, queries
from collector.aggregates.refresh import refresh, to_disruption
from collector.db import is_retryable
from collector.ingest import Ingestor
from tests.collector.batches import batch, event, heartbeat
from tests.collector.conftest import make_config

NOW = time.time()
H = int(NOW // 3600 * 3600) - 2 * 86400  # an hour boundary two days ago
A, B = "device-aaaa-0001", "device-bbbb-0002"


def beats(start, end, active, site="Paris", department="Finance", step=60.0):
    return [heartbeat(start + step * (i + 1), site=site, department=department, interval_s=step, active_s=active)
            for i in range(int((end - start) // step))]


@pytest.fixture
def setup(db_engine, db_url):
    config = make_config(db_url)  # apps = ["firefox"]
    return db_engine, config, Ingestor(db_engine, config, hooks=[marks.on_ingest])


def store(ingestor, device, events=(), heartbeats=()):
    ingestor.store(batch(list(events), list(heartbeats), device_id=device), now=NOW)


def rows(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def as_dict(result, key, value):
    return {tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]: r[value] for r in result}


def lost_by(engine, start, end, group_by=(), where=None):
    """queries.lost_by's rows as dicts of their columns."""
    with engine.connect() as conn:
        return [dict(zip([*group_by, "lost_s", "disruptions"], r)) for r in queries.lost_by(conn, start, end, group_by, where)]


def active_by(engine, start, end, group_by=(), where=None):
    with engine.connect() as conn:
        return [dict(zip([*group_by, "active_s"], r)) for r in queries.active_by(conn, start, end, group_by, where)]


def assert_consistent(engine, config):
    """Rollups and totals equal the sums of the per-device hourly rows."""
    lost = defaultdict(float)
    for hour, type_, label, site, dept, lost_s in rows(engine, "SELECT hour, type, label, site, department, lost_s "
                                                           "FROM lost_hourly"):
        lost[(hour, type_, label, site, dept)] += lost_s  # the label each row was rolled up under (discover)
    rollup = {tuple(r[:5]): r[5] for r in rows(engine, "SELECT hour, type, app, site, department, lost_s FROM lost_rollup")}
    for key in set(lost) | set(rollup):
        assert lost.get(key, 0.0) == pytest.approx(rollup.get(key, 0.0), abs=1e-6), key
    daily = defaultdict(float)
    for (h, t, a, s, d), v in lost.items():
        daily[(day_start(h), t, a, s, d)] += v
    stored_daily = {tuple(r[:5]): r[5] for r in rows(engine, "SELECT day, type, app, site, department, lost_s FROM lost_daily")}
    for key in set(daily) | set(stored_daily):
        assert daily.get(key, 0.0) == pytest.approx(stored_daily.get(key, 0.0), abs=1e-6), key
    active_daily = defaultdict(float)
    for h, s, d, v in rows(engine, "SELECT hour, site, department, active_s FROM active_hourly"):
        active_daily[(day_start(h), s, d)] += v
    stored_active = {tuple(r[:3]): r[3] for r in rows(engine, "SELECT day, site, department, active_s FROM active_daily")}
    for key in set(active_daily) | set(stored_active):
        assert active_daily.get(key, 0.0) == pytest.approx(stored_active.get(key, 0.0), abs=1e-6), key
    assert_impacted_consistent(engine, config)
    first_day = rows(engine, "SELECT first_day FROM week_state")[0][0]
    week = defaultdict(float)
    for (day, t, a, s, d), v in daily.items():
        if day >= first_day:
            week[(t, a, s, d)] += v
    stored_week = {tuple(r[:4]): r[4] for r in rows(engine, "SELECT type, app, site, department, lost_s FROM lost_week")}
    for key in set(week) | set(stored_week):
        assert week.get(key, 0.0) == pytest.approx(stored_week.get(key, 0.0), abs=1e-6), key
    active_week = defaultdict(float)
    for (day, s, d), v in active_daily.items():
        if day >= first_day:
            active_week[(s, d)] += v
    stored_aw = {tuple(r[:2]): r[2] for r in rows(engine, "SELECT site, department, active_s FROM active_week")}
    for key in set(active_week) | set(stored_aw):
        assert active_week.get(key, 0.0) == pytest.approx(stored_aw.get(key, 0.0), abs=1e-6), key
    totals = defaultdict(float)
    for (_h, t, a, s, d), v in lost.items():
        totals[("lost", t, a, s, d)] += v
    for _h, s, d, v, hit in rows(engine, "SELECT hour, site, department, active_s, impacted_s FROM active_hourly"):
        totals[("active", "", "", s, d)] += v
        totals[("impacted", "", "", s, d)] += hit
    stored = {tuple(r[:5]): (r[5], r[6]) for r in rows(engine, "SELECT metric, type, app, site, department, value, exported FROM impact_total")}
    for key in set(totals) | set(stored):
        value, exported = stored.get(key, (0.0, 0.0))
        assert totals.get(key, 0.0) == pytest.approx(value, abs=1e-6), key
        assert exported >= value - 1e-6


def assert_impacted_consistent(engine, config):
    """The impacted seconds (model rule 7) of the hourly rows, their daily and weekly sums by site and department,
    and by application label, equal what the hourly lost and active rows say."""
    threshold = aggregates.model_config(config).impacted_hour_lost_s
    lost, app_lost = defaultdict(float), defaultdict(float)
    for dev, h, type_, app, label, v in rows(engine, "SELECT device_id, hour, type, app, label, lost_s FROM lost_hourly"):
        lost[(dev, h)] += v
        if type_ != impact.TICKET:  # under the label the row was rolled up under (collector.aggregates.discover)
            app_lost[(dev, h, label or config.app_label(app))] += v
    active = {(dev, h): (v, hit) for dev, h, v, hit in rows(
        engine, "SELECT device_id, hour, active_s, impacted_s FROM active_hourly")}
    for key, (v, hit) in active.items():
        assert hit == (v if lost.get(key, 0.0) >= threshold else 0.0), key
    first_day = rows(engine, "SELECT first_day FROM week_state")[0][0]
    daily, week = defaultdict(float), defaultdict(float)
    for h, s, d, hit in rows(engine, "SELECT hour, site, department, impacted_s FROM active_hourly"):
        daily[(day_start(h), s, d)] += hit
        if day_start(h) >= first_day:
            week[(s, d)] += hit
    app_daily, app_week = defaultdict(float), defaultdict(float)
    for (dev, h, app), v in app_lost.items():
        if v >= threshold and (dev, h) in active:
            app_daily[(day_start(h), app)] += active[(dev, h)][0]
            if day_start(h) >= first_day:
                app_week[app] += active[(dev, h)][0]
    for expected, sql in ((daily, "SELECT day, site, department, impacted_s FROM active_daily"),
                          (week, "SELECT site, department, impacted_s FROM active_week"),
                          (app_daily, "SELECT day, app, impacted_s FROM app_active_daily"),
                          (app_week, "SELECT app, impacted_s FROM app_active_week")):
        stored = {tuple(r[:-1]) if len(r) > 2 else r[0]: r[-1] for r in rows(engine, sql)}
        for key in set(expected) | set(stored):
            assert expected.get(key, 0.0) == pytest.approx(stored.get(key, 0.0), abs=1e-6), (sql, key)


def load_fleet(ingestor):
    store(ingestor, A, heartbeats=beats(H, H + 7200, 60.0))
    store(ingestor, A, events=[
        event("hang", "firefox", H + 600, duration_s=120, active_s=120, details={"app_version": "115.0"}),
        event("connectivity_loss", "network", H + 660, duration_s=300, active_s=300, details={"cause": "dns_failure"}),
        event("crash", "firefox", H + 4000, details={"app_version": "115.0"}),
    ])
    store(ingestor, B, events=[event("slow_app", "mail", H + 100, duration_s=10, active_s=10, details={"excess_s": 4}),
                               event("test", "hinder", H + 200)],
          heartbeats=beats(H, H + 3600, 30.0, site="Lyon", department="Sales"))


def test_hand_computed_fleet(setup):
    engine, config, ingestor = setup
    load_fleet(ingestor)
    with engine.connect() as conn:
        assert queries.pending(conn) > 0
    assert refresh(engine, config) >= 2
    by_type = as_dict(lost_by(engine, H, H + 86400, ["type"]), ["type"], "lost_s")
    # the outage covers the hang's last minute and wins it (same weight, higher priority)
    assert by_type == pytest.approx({"hang": 60.0, "connectivity_loss": 300.0, "crash": 180.0, "slow_app": 4.0, "test": 0.0})
    counts = as_dict(lost_by(engine, H, H + 86400, ["type"]), ["type"], "disruptions")
    assert counts == {"hang": 1, "connectivity_loss": 1, "crash": 1, "slow_app": 1, "test": 1}
    assert as_dict(active_by(engine, H, H + 86400, ["site"]), ["site"], "active_s") == pytest.approx(
        {"Paris": 7200.0, "Lyon": 1800.0})
    assert lost_by(engine, H, H + 86400, where={"site": "Lyon"})[0]["lost_s"] == pytest.approx(4.0)
    assert as_dict(lost_by(engine, H, H + 3600, ["device_id"]), ["device_id"], "lost_s") == pytest.approx(
        {A: 360.0, B: 4.0})  # the first hour only: the crash is in the second
    assert dict(rows(engine, "SELECT app, SUM(active_s) FROM app_active_daily GROUP BY app")) == pytest.approx(
        {"firefox": 7200.0, "mail": 1800.0, "other": 7200.0 + 1800.0})  # the devices' active time on the days
    # they reported the app (mail, uncatalogued, is discovered on arrival: collector.aggregates.discover)
    # impacted hours (>= 60 s lost): both of A's (360 s, then the crash's 180 s), not B's (4 s)
    assert dict(rows(engine, "SELECT site, impacted_s FROM active_week")) == pytest.approx({"Paris": 7200.0, "Lyon": 0.0})
    # by application, its own lost time: firefox's hang minute and crash; other's outage (network), not mail's 4 s
    assert dict(rows(engine, "SELECT app, impacted_s FROM app_active_week")) == pytest.approx(
        {"firefox": 7200.0, "mail": 0.0, "other": 3600.0})
    assert rows(engine, "SELECT cause, site, department, outages, seconds FROM outage_count") == [
        ("dns_failure", "Paris", "Finance", 1, 300.0)]
    assert sorted(rows(engine, "SELECT app, version, type, count FROM app_version_count")) == [
        ("firefox", "115.0", "crash", 1), ("firefox", "115.0", "hang", 1), ("mail", "unknown", "slow_app", 1)]
    with engine.connect() as conn:
        assert queries.pending(conn) == 0
    assert_consistent(engine, config)
    with pytest.raises(ValueError, match="cannot group or filter lost_hourly by 'colour'"):
        lost_by(engine, H, H + 3600, ["colour"])


def test_a_list_as_app_version_is_stored_and_counted_as_no_version(setup):
    """details.app_version may be any detail value the contract allows; a list (unhashable) was a 500 at ingest."""
    engine, config, ingestor = setup
    store(ingestor, A, events=[event("crash", "firefox", H + 60, details={"app_version": ["115.0", "116.0"]}),
                               event("crash", "firefox", H + 120, details={"app_version": []}),
                               event("crash", "firefox", H + 180, details={"app_version": "115.0"})])
    refresh(engine, config)
    assert sorted(rows(engine, "SELECT app, version, type, count FROM app_version_count")) == [
        ("firefox", "115.0", "crash", 1), ("firefox", "unknown", "crash", 2)]
    assert rows(engine, "SELECT COUNT(*) FROM event") == [(3,)]


def test_late_event_counts_at_its_time_and_totals_never_decrease(setup):
    engine, config, ingestor = setup
    load_fleet(ingestor)
    refresh(engine, config)
    # an outage that arrives late, covering the whole hang: the hang's 60 s move to the outage
    store(ingestor, A, events=[event("connectivity_loss", "network", H + 500, duration_s=300, active_s=300,
                                     details={"cause": "no_link"})])
    refresh(engine, config)
    by_type = as_dict(lost_by(engine, H, H + 86400, ["type"], where={"device_id": A}), ["type"], "lost_s")
    assert by_type == pytest.approx({"hang": 0.0, "connectivity_loss": 460.0, "crash": 180.0})
    hang = rows(engine, "SELECT value, exported FROM impact_total WHERE metric = 'lost' AND type = 'hang'")
    assert hang == [(pytest.approx(0.0, abs=1e-9), pytest.approx(60.0))]
    assert_consistent(engine, config)


def test_the_week_moves_forward_and_drops_old_days(setup):
    engine, config, ingestor = setup
    load_fleet(ingestor)
    refresh(engine, config)
    week = lambda: sum(r[0] for r in rows(engine, "SELECT lost_s FROM lost_week"))  # noqa: E731
    assert week() == pytest.approx(544.0)
    assert_consistent(engine, config)
    # three days later the data (two days old now) is still in the trailing week; a week later it has left it
    refresh(engine, config, now=NOW + 3 * 86400)
    assert week() == pytest.approx(544.0)
    refresh(engine, config, now=H + 7 * 86400)
    assert week() == pytest.approx(0.0, abs=1e-9)
    assert_consistent(engine, config)
    # a late event from that old day lands in its day, not in the current week
    store(ingestor, A, events=[event("hang", "erp", H + 5000, duration_s=60, active_s=60)])
    refresh(engine, config, now=H + 7 * 86400)
    assert week() == pytest.approx(0.0, abs=1e-9)
    assert lost_by(engine, H, H + 86400, where={"app": "erp"})[0]["lost_s"] == pytest.approx(60.0)
    assert_consistent(engine, config)


def test_a_late_heartbeat_gives_a_crash_its_cost(setup):
    engine, config, ingestor = setup
    store(ingestor, A, events=[event("crash", "firefox", H + 90)])
    refresh(engine, config)
    assert lost_by(engine, H, H + 3600)[0]["lost_s"] == 0.0  # no activity known yet
    store(ingestor, A, heartbeats=beats(H, H + 600, 45.0))
    refresh(engine, config)
    assert lost_by(engine, H, H + 3600)[0]["lost_s"] == pytest.approx(180 * 0.75)
    assert_consistent(engine, config)


def test_an_event_crossing_midnight_is_split_between_days(setup):
    engine, config, ingestor = setup
    midnight = day_start(H) + 86400
    store(ingestor, A, heartbeats=beats(midnight - 1800, midnight + 1800, 60.0),
          events=[event("connectivity_loss", "network", midnight - 600, duration_s=1200, active_s=1200)])
    refresh(engine, config)
    assert lost_by(engine, midnight - 3600, midnight)[0]["lost_s"] == pytest.approx(600.0)
    assert lost_by(engine, midnight, midnight + 3600)[0]["lost_s"] == pytest.approx(600.0)


def test_a_late_heartbeat_after_midnight_reprices_the_day_before(setup):
    """A heartbeat changes the active fraction of the whole event it overlaps, also on the event's earlier days."""
    engine, config, ingestor = setup
    midnight = day_start(H) + 86400
    outage = event("connectivity_loss", "network", midnight - 600, duration_s=1200)  # active_s unknown: heartbeats
    store(ingestor, A, heartbeats=beats(midnight - 1800, midnight, 60.0), events=[outage])
    refresh(engine, config)
    assert lost_by(engine, midnight - 3600, midnight)[0]["lost_s"] == pytest.approx(300.0)
    store(ingestor, A, heartbeats=beats(midnight, midnight + 1800, 60.0))  # the second half was fully active
    refresh(engine, config)
    assert lost_by(engine, midnight - 3600, midnight)[0]["lost_s"] == pytest.approx(600.0)
    assert lost_by(engine, midnight, midnight + 3600)[0]["lost_s"] == pytest.approx(600.0)
    assert_consistent(engine, config)


def test_a_late_heartbeat_reprices_the_later_hours_of_an_event_it_overlaps(setup):
    """An event's active fraction is over its whole span: a heartbeat in its first hour changes its last hours."""
    engine, config, ingestor = setup
    outage = event("connectivity_loss", "network", H + 1800, duration_s=3 * 3600)  # active_s unknown: heartbeats
    early = [heartbeat(H + 60 * (i + 1), interval_s=60.0, active_s=30.0) for i in range(240) if not 40 <= i < 50]
    late = [heartbeat(H + 60 * (i + 1), interval_s=60.0, active_s=60.0) for i in range(40, 50)]
    records = [(A, "ev", outage), *((A, "hb", h) for h in early)]
    store(ingestor, A, events=[outage], heartbeats=early)
    refresh(engine, config)
    _assert_equals_from_scratch(engine, config, records, minimum=0)
    store(ingestor, A, heartbeats=late)  # fills a gap at H+40 min: the fraction of the whole outage changes
    refresh(engine, config)
    _assert_equals_from_scratch(engine, config, records + [(A, "hb", h) for h in late], minimum=0)
    assert_consistent(engine, config)


def _random_fleet(seed: int):
    rnd = random.Random(seed)
    records = []
    for d in range(3):
        dev = f"device-rand-{d:04d}"
        site = rnd.choice(["Paris", "Lyon"])
        t = H - 3600
        while t < H + 30 * 3600:
            step = rnd.choice([60.0, 300.0, 900.0])
            records.append((dev, "hb", heartbeat(t + step, site=site, interval_s=step, active_s=step * rnd.random())))
            t += step + rnd.choice([0.0, 0.0, 1200.0])  # sometimes the device is off
        for _ in range(40):
            type_ = rnd.choice(["hang", "connectivity_loss", "crash", "slow_system", "unexpected_shutdown", "app_unavailable"])
            dur = 0.0 if type_ == "crash" else rnd.uniform(1, 4000)
            records.append((dev, "ev", event(type_, rnd.choice(["firefox", "erp"]), H + rnd.uniform(-1800, 30 * 3600),
                                             duration_s=dur, active_s=rnd.choice([None, dur * rnd.random()]),
                                             details={"excess_s": dur / 3})))
    rnd.shuffle(records)
    return records


def _ingest_in_pieces(ingestor, records, rnd, between=lambda: None):
    i = 0
    while i < len(records):
        n = rnd.randint(1, 20)
        piece, i = records[i:i + n], i + n
        by_dev = defaultdict(lambda: ([], []))
        for dev, kind, rec in piece:
            by_dev[dev][0 if kind == "ev" else 1].append(rec)
        for dev, (evs, hbs) in by_dev.items():
            store(ingestor, dev, evs, hbs)
        between()


def _assert_equals_from_scratch(engine, config, records, minimum=3600):
    cfg = aggregates.model_config(config)
    total, hit = 0.0, 0
    for dev in sorted({r[0] for r in records}):
        evs = [to_disruption({**r, "start": impact_time(r["start"])}) for d, k, r in records if d == dev and k == "ev"]
        hbs = [impact.Interval(end=impact_time(r["time"]), interval_s=r["interval_s"], active_s=r["active_s"])
               for d, k, r in records if d == dev and k == "hb"]
        expected = impact.device_hours(evs, hbs, cfg)
        got = {(h, t, a): v for h, t, a, v in rows(engine, f"SELECT hour, type, app, lost_s FROM lost_hourly WHERE device_id = '{dev}'")}
        for key in set(expected.lost) | set(got):
            assert got.get(key, 0.0) == pytest.approx(expected.lost.get(key, 0.0), abs=1e-6), (dev, key)
        active = {h: v for h, v in rows(engine, f"SELECT hour, active_s FROM active_hourly WHERE device_id = '{dev}'")}
        assert active == pytest.approx({h: v for h, v in expected.active.items() if v > 0})
        impacted = {h: v for h, v in rows(engine, f"SELECT hour, impacted_s FROM active_hourly "
                                                  f"WHERE device_id = '{dev}' AND impacted_s > 0")}
        assert impacted == pytest.approx(impact.impacted_active(expected.lost_by_hour(), expected.active,
                                                                cfg.impacted_hour_lost_s))
        hit += len(impacted)
        total += expected.lost_total()
    assert total > minimum  # the data set really loses time
    assert hit or not minimum  # and impacts hours


def impact_time(text: str) -> float:
    from contract.records import parse_time

    return parse_time(text)


def test_any_order_and_batching_gives_the_from_scratch_result(setup):
    engine, config, ingestor = setup
    records = _random_fleet(7)
    rnd = random.Random(1)
    _ingest_in_pieces(ingestor, records, rnd, between=lambda: rnd.random() < 0.3 and refresh(engine, config))
    refresh(engine, config)
    _assert_equals_from_scratch(engine, config, records)
    assert_consistent(engine, config)


def test_concurrent_refreshers_and_ingest(setup):
    """Two refreshers race an ingesting thread (on PostgreSQL: SKIP LOCKED claims); the result is exact."""
    engine, config, ingestor = setup
    records = _random_fleet(11)
    stop = threading.Event()
    errors = []

    def refresher():
        while not stop.is_set():
            try:
                refresh(engine, config, batch_size=5)
            except Exception as exc:  # noqa: BLE001 - reported below
                if not is_retryable(exc):  # SQLite busy: the marks stay, the next round does them
                    errors.append(exc)
                    return

    threads = [threading.Thread(target=refresher) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        _ingest_in_pieces(ingestor, records, random.Random(2))
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
    refresh(engine, config)
    _assert_equals_from_scratch(engine, config, records)
    assert_consistent(engine, config)


def test_a_served_collector_refreshes_in_the_background(collector):
    """The real collector process recomputes dirty device-days by itself: /metrics shows the lost time."""
    import httpx

    from tests.conftest import wait_until

    body = batch([event("hang", "firefox", H + 600, duration_s=120, active_s=90)], beats(H, H + 3600, 60.0), device_id=A)
    r = httpx.post(f"{collector.url}/api/v1/events", json=body, headers=collector.agent_headers(), timeout=30)
    assert r.status_code == 200, r.text
    # no catalogue: firefox is discovered; one device, under the minimum group size
    line = 'hinder_lost_seconds_total{app="firefox",department="other",site="other",type="hang"} 90.0'
    wait_until(lambda: line in collector.metrics(), timeout_s=90, interval_s=0.5, what="the refresher to count the hang")


def test_a_refresh_out_of_time_commits_what_it_did_and_the_next_transaction_goes_on(db_engine, db_url, tmp_path):
    """With no time at all per transaction, each commits one step of devices and the result is the same."""
    from collector.db import make_engine
    from collector.migrations import upgrade

    other = make_engine(f"sqlite:///{tmp_path / 'unhurried.db'}")
    upgrade(other)
    now = NOW
    lost = []
    for engine, url, transaction_s in ((db_engine, db_url, 0.0), (other, str(other.url), 60.0)):
        config = make_config(url)
        ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
        for d in range(60):  # more devices than one step, over several days
            end = now - 86400 * (d % 3)
            store(ingestor, f"device-{d:04d}", [event("hang", "firefox", end - 600, duration_s=120, active_s=100)],
                  beats(end - 900, end, 0.8))
        with engine.connect() as conn:
            dirty = conn.execute(sa.text("SELECT COUNT(*) FROM impact_dirty")).scalar_one()
        assert refresh(engine, config, now=now, transaction_s=transaction_s) == dirty > 50
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM impact_dirty")).scalar_one() == 0
            lost.append(conn.execute(sa.text("SELECT device_id, hour, type, app, lost_s FROM lost_hourly "
                                             "ORDER BY device_id, hour, type, app")).all())
    assert lost[0] == lost[1] and lost[0]
