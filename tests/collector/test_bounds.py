"""Issue 12, findings 1, 3 and 7: no value in a batch costs the collector more than its record's own span, no
device clock moves records outside the collector's window, and no bad input answers 500, on both databases."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from collector.aggregates import DAY, marks
from collector.aggregates.refresh import refresh
from collector.ingest import MAX_RECORDED_SKEW_S, IngestedBatch, Ingestor, Rejected
from collector.columns import Columns
from collector.models import device_table, event_table, recent_disruption_table
from contract import records
from contract.records import MAX_DURATION_S, Limits
from tests.collector.batches import DEVICE, batch, body, event, heartbeat
from tests.collector.conftest import ADMIN, make_config, table_counts

YEAR_ONE = "0001-01-01T00:00:00Z"


def _ingestor(engine, url, **collector):
    return Ingestor(engine, make_config(url, **collector), hooks=[marks.on_ingest])


def _scalar(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


# ------------------------------------------------------------ finding 1: one event, bounded work


@pytest.mark.parametrize("excess", [1e11, 1e15, 2**64 - 1, 2**63 - 1])
def test_one_slow_app_event_with_a_huge_excess_is_refused_at_once(db_engine, db_url, excess):
    ev = event("slow_app", "erp", time.time() - 60, duration_s=30.0, details={"excess_s": excess})
    t0 = time.perf_counter()
    with pytest.raises(Rejected) as exc:
        _ingestor(db_engine, db_url).store_body(body(batch([ev])), None)
    assert time.perf_counter() - t0 < 1.0
    assert exc.value.status == 422 and exc.value.detail["errors"][0]["field"] == "details.excess_s"
    assert set(table_counts(db_engine).values()) == {0}
    assert _scalar(db_engine, "SELECT COUNT(*) FROM impact_dirty") == 0


def _marked_days(engine) -> int:
    return _scalar(engine, "SELECT COUNT(*) FROM impact_dirty")


def _mark_one(engine, url, start, duration, excess):
    """Mark what one event (bypassing the contract, as a row stored before it bounded excess_s would) can change."""
    config = make_config(url)
    ev = {"id": records.new_id(start), "type": "slow_app", "app": "erp", "start": start, "duration_s": duration,
          "severity": "warning", "active_s": None, "details": {"excess_s": excess}}
    stored = IngestedBatch(device={"id": DEVICE, "site": "Paris", "department": "Finance", "os": "linux"},
                           events=Columns.of([ev], records.EVENT_FIELDS), heartbeats=[], config=config,
                           received_at=time.time())
    with engine.begin() as conn:
        t0 = time.perf_counter()
        marks._mark_dirty(conn, stored)
        return time.perf_counter() - t0


@pytest.mark.parametrize("excess", [1e11, 1e15, float(2**64 - 1)])
def test_marking_one_record_touches_at_most_its_own_span_of_days(db_engine, db_url, excess):
    now = time.time()
    reach = marks.model_config(make_config(db_url)).reach_s
    elapsed = _mark_one(db_engine, db_url, now - 3600, 30.0, excess)
    assert elapsed < 1.0
    assert _marked_days(db_engine) <= (30.0 + 1 + reach) // DAY + 2  # the event's own span, not excess_s


def test_the_longest_event_the_contract_accepts_marks_a_bounded_number_of_days(db_engine, db_url):
    now = time.time()
    reach = marks.model_config(make_config(db_url)).reach_s
    _ingestor(db_engine, db_url).store(batch([event("slow_app", "erp", now - MAX_DURATION_S, duration_s=MAX_DURATION_S,
                                                    details={"excess_s": MAX_DURATION_S})]))
    assert _marked_days(db_engine) <= (MAX_DURATION_S + reach) // DAY + 2
    t0 = time.perf_counter()
    refresh(db_engine, make_config(db_url))
    assert time.perf_counter() - t0 < 30
    assert _marked_days(db_engine) == 0


def test_an_excess_stored_before_the_rule_costs_no_more_than_its_event(db_engine, db_url):
    """The model clamps excess_s to the event: a 30 s event stored with excess_s = 1e15 loses at most 31 s."""
    now = time.time()
    start = now - 7200
    hb = [heartbeat(start + 60 * (i + 1), interval_s=60.0, active_s=60.0) for i in range(10)]
    _ingestor(db_engine, db_url).store(batch([], hb))
    with db_engine.begin() as conn:
        conn.execute(event_table.insert().values(
            id=records.new_id(start), device_id=DEVICE, type="slow_app", app="erp", start=start, duration_s=30.0,
            end=start + 30.0, severity="warning", active_s=30.0, details={"excess_s": 1e15}, received_at=now))
    _mark_one(db_engine, db_url, start, 30.0, 1e15)
    refresh(db_engine, make_config(db_url))
    assert 0 < _scalar(db_engine, "SELECT SUM(lost_s) FROM lost_hourly") <= 31.0


# ------------------------------------------------------------ finding 3: clocks


def _times(engine):
    with engine.connect() as conn:
        return (conn.execute(sa.text("SELECT start FROM event")).scalars().all(),
                conn.execute(sa.text("SELECT time FROM heartbeat")).scalars().all(),
                conn.execute(sa.select(device_table.c.last_heartbeat, device_table.c.clock_skew_s)).one())


@pytest.mark.parametrize("path", ["fast", "full"])
def test_an_absurd_sent_at_moves_nothing(db_engine, db_url, path):
    """sent_at = 0001-01-01 with records stamped now: stored where they belong, not in the year 4052."""
    now = time.time()
    payload = batch([event(start=now - 5)], [heartbeat(now - 1)], sent_at=YEAR_ONE)
    ingestor = _ingestor(db_engine, db_url)
    if path == "fast":
        ingestor.store_body(body(payload), None, now=now)
    else:
        ingestor.store(payload, now=now)
    starts, beats, (last_heartbeat, skew) = _times(db_engine)
    assert starts == [pytest.approx(now - 5, abs=0.01)] and beats == [pytest.approx(now - 1, abs=0.01)]
    assert last_heartbeat == pytest.approx(now - 1, abs=0.01)
    assert skew == -MAX_RECORDED_SKEW_S  # recorded, bounded
    # ... and a later honest heartbeat updates the device
    ingestor.store(batch([], [heartbeat(now + 59)]), now=now + 60)
    assert _times(db_engine)[2][0] == pytest.approx(now + 59, abs=0.01)


def test_an_honest_laptop_whose_rtc_reset_is_stored_at_the_right_time(db_engine, db_url):
    """Records stamped right, sent_at from a clock reset to 2000-01-01 before NTP: stored as stamped, not in 2053."""
    now = time.time()
    payload = batch([event(start=now - 3600)], [heartbeat(now - 120)], sent_at="2000-01-01T00:00:07Z")
    _ingestor(db_engine, db_url).store_body(body(payload), None, now=now)
    starts, beats, _ = _times(db_engine)
    assert starts == [pytest.approx(now - 3600, abs=0.01)] and beats == [pytest.approx(now - 120, abs=0.01)]


def test_records_stamped_on_an_absurd_clock_are_refused_alike_by_both_paths(db_engine, db_url):
    payload = batch([dict(event(), start="0001-01-01T00:00:05Z")], sent_at=YEAR_ONE)
    for store in (lambda i: i.store_body(body(payload), None), lambda i: i.store(payload)):
        with pytest.raises(Rejected) as exc:
            store(_ingestor(db_engine, db_url))
        assert exc.value.status == 422 and exc.value.detail["errors"][0]["field"] == "start"
    assert set(table_counts(db_engine).values()) == {0}


def test_a_device_pinned_in_the_future_before_the_fix_is_released(db_engine, db_url):
    """A last_heartbeat and a recent disruption stored in the year 4052 (before the window was enforced) pin nothing."""
    now = time.time()
    year_4052 = 65_000_000_000.0
    ingestor = _ingestor(db_engine, db_url)
    ingestor.store(batch([], [heartbeat(now - 60)]), now=now)
    with db_engine.begin() as conn:
        conn.execute(device_table.update().values(last_heartbeat=year_4052, site="Mars"))
        conn.execute(recent_disruption_table.insert().values(device_id=DEVICE, type="crash", site="Mars",
                                                             end=year_4052))
    ingestor.store(batch([], [heartbeat(now - 1)]), now=now)
    with db_engine.connect() as conn:
        assert conn.execute(sa.select(device_table.c.last_heartbeat, device_table.c.site)).one() == \
            (pytest.approx(now - 1, abs=0.01), "Paris")
    refresh(db_engine, make_config(db_url), now=now)
    assert _scalar(db_engine, "SELECT COUNT(*) FROM recent_disruption") == 0


def test_the_last_guard_refuses_a_record_outside_the_window(db_engine, db_url):
    from collector import ingest

    now = time.time()
    decoded = ingest.of_batch({"device_id": DEVICE, "sent_at": None, "clock_correction_s": 0.0,
                               "events": [], "heartbeats": [{"time": now + 86400.0}]})
    with pytest.raises(Rejected) as exc:
        ingest._within_window(decoded, now, Limits())
    assert exc.value.status == 422


# ------------------------------------------------------------ finding 7: a clear 4xx, never a 500


@pytest.mark.parametrize("count", [2**31, 2**40, records.MAX_COUNT])
def test_counts_up_to_64_bits_are_stored_and_summed(api_factory, count):
    api = api_factory()
    for dev in (DEVICE, "device-0002"):
        r = api.post(body(batch([], [heartbeat(spool_dropped_total=count, rejected_total=count,
                                               sensor_errors_total=count)], device_id=dev)))
        assert r.status_code == 200, r.text
    devices = api.client.get("/api/v1/devices", headers=ADMIN).json()["devices"]
    assert {d["spool_dropped_total"] for d in devices} == {count}
    assert api.client.get("/metrics").status_code == 200  # the sum of two of them is beyond 64 bits
    r = api.post(body(batch([], [heartbeat(spool_dropped_total=records.MAX_COUNT + 1)])))
    assert r.status_code == 422


@pytest.mark.parametrize("where", ["app", "site", "detail key", "detail value", "device_id"])
def test_a_nul_anywhere_is_a_422_and_stores_nothing(api, where):
    ev, hb, dev = event(), heartbeat(), DEVICE
    if where == "app":
        ev["app"] = "fire\x00fox"
    elif where == "site":
        hb["site"] = "Pa\x00ris"
    elif where == "detail key":
        ev["details"] = {"k\x00": 1}
    elif where == "detail value":
        ev["details"] = {"exe": "a\x00b"}
    else:
        dev = "device-0001\x00"
    r = api.post(body(batch([ev], [hb], device_id=dev)))
    assert r.status_code == 422, r.text
    assert "\x00" not in r.text  # the answer does not echo it either
    assert set(api.counts().values()) == {0}


@pytest.mark.parametrize("device_id", ["ab\x00cdefgh", "device-0001\n", "x" * 65])
def test_reading_events_of_a_malformed_device_id_is_a_400(api, device_id):
    r = api.client.get("/api/v1/events", params={"device_id": device_id}, headers=ADMIN)
    assert r.status_code == 400 and "device_id" in r.json()["detail"]


def test_admin_reads_answer_whatever_the_tables_hold(api):
    """Times stored before the window was enforced, or beyond any calendar, read as RFC 3339 or null, never a 500."""
    now = time.time()
    api.post(body(batch([event()], [heartbeat()])))
    with api.engine.begin() as conn:
        for i, start in enumerate([65_000_000_000.0, 1e13, -62135596800.0, -1e13]):
            conn.execute(event_table.insert().values(
                id=records.new_id(now + i), device_id=DEVICE, type="crash", app="firefox", start=start, duration_s=0.0,
                end=start, severity="error", active_s=None, details={}, received_at=now))
        conn.execute(device_table.update().values(last_heartbeat=1e13, first_seen=-1e13))
    r = api.client.get("/api/v1/events", headers=ADMIN)
    assert r.status_code == 200
    starts = [e["start"] for e in r.json()["events"]]
    assert len(starts) == 5 and starts.count(None) == 2  # 1e13 and -1e13 s have no RFC 3339 form
    assert {records.format_time(65_000_000_000.0), "0001-01-01T00:00:00.000Z"} < set(starts)
    r = api.client.get("/api/v1/devices", headers=ADMIN)
    assert r.status_code == 200
    d = r.json()["devices"][0]
    assert d["last_heartbeat"] is None and d["first_seen"] is None


def test_a_422_lists_the_first_100_problems_and_counts_them(api_factory):
    """One event with 400,000 unknown fields: a short answer, not 27.6 MB naming every one."""
    api = api_factory(max_body_bytes=20_000_000)
    ev = event()
    ev.update({f"u{i:06d}": 0 for i in range(400_000)})
    t0 = time.perf_counter()
    r = api.post(json.dumps(batch([ev])).encode())
    assert time.perf_counter() - t0 < 10
    assert r.status_code == 422
    assert len(r.content) < 20_000
    detail = r.json()["detail"]
    assert len(detail["errors"]) == records.MAX_ERRORS and detail["errors_total"] == 400_000
    assert detail["errors"][0] == {"kind": "event", "index": 0, "field": "u000000", "error": "unknown field"}
