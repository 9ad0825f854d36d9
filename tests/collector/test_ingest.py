"""Ingest internals on both databases: body decoding, hooks, concurrency, busy databases."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa

from collector.aggregates import marks
from collector.db import make_engine
from collector.ingest import Ingestor, Rejected
from collector.migrations import upgrade
from tests.collector.batches import batch, body, event, heartbeat
from tests.collector.conftest import make_api, make_config, table_counts
from tests.conftest import free_port


@pytest.mark.parametrize("raw, encoding, status", [
    (b'{"a": 1}', None, 422),  # decoded, then refused by the contract
    (gzip.compress(b'{"a": 1}'), "gzip", 422),
    (gzip.compress(b'{"a": 1}'), " GZIP ", 422),
    (b'{"a": 1', None, 400),
    (b"\x1f\x8b garbage", "gzip", 400),
    (b'{"a": 1}', "deflate", 415),
    (gzip.compress(b"[" + b"1," * 5000 + b"1]"), "gzip", 413),
    (b" " * 1001 + b"{}", None, 413),
])
def test_bad_bodies_are_refused_before_anything_is_stored(db_engine, db_url, raw, encoding, status):
    config = make_config(db_url)
    config.collector.max_body_bytes = 1000
    with pytest.raises(Rejected) as exc:
        Ingestor(db_engine, config, hooks=[marks.on_ingest]).store_body(raw, encoding)
    assert exc.value.status == status
    assert set(table_counts(db_engine).values()) == {0}


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"schema": 1, "device_id": "device-0001", "events": [{"details": ' + b'{"a": ' * 50_000 + b"1"
    + b"}" * 50_000 + b"}]}",
], ids=["arrays", "details"])
def test_json_nested_thousands_deep_is_a_400_not_a_500(db_engine, db_url, raw):
    with pytest.raises(Rejected) as exc:
        Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]).store_body(raw, None)
    assert (exc.value.status, exc.value.detail) == (400, "body is nested too deeply to be a batch")
    assert set(table_counts(db_engine).values()) == {0}


def test_hooks_see_only_new_records_inside_the_transaction(db_engine, db_url):
    seen = []

    def hook(conn, stored):
        # the rows are visible inside the transaction the hook runs in
        n = conn.execute(sa.text("SELECT COUNT(*) FROM event")).scalar_one()
        seen.append((len(stored.events), len(stored.heartbeats), stored.device["site"], n))

    ingestor = Ingestor(db_engine, make_config(db_url), hooks=[hook])
    b = batch([event(), event()], [heartbeat()])
    ingestor.store(b)
    ingestor.store(b)
    ingestor.store(batch([b["events"][0], event()]))
    assert seen == [(2, 1, "Paris", 2), (0, 0, "Paris", 2), (1, 0, "Paris", 3)]


def test_a_failing_hook_stores_nothing(db_engine, db_url):
    def broken(conn, stored):
        raise RuntimeError("aggregate bug")

    with pytest.raises(RuntimeError):
        Ingestor(db_engine, make_config(db_url), hooks=[broken]).store(batch([event()], [heartbeat()]))
    assert table_counts(db_engine) == {"device": 0, "event": 0, "heartbeat": 0, "disruption_count": 0}


def test_concurrent_retries_of_one_batch_store_it_once(db_engine, db_url):
    ingestor = Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest])
    b = batch([event() for _ in range(50)], [heartbeat()])
    results, errors = [], []

    def send():
        try:
            results.append(ingestor.store(b))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sum(r.events_stored for r in results) == 50
    assert sum(r.events_duplicate for r in results) == 250
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT SUM(count) FROM disruption_count")).scalar_one() == 50
    assert table_counts(db_engine)["event"] == 50


def _short_timeout_api(url):
    engine = make_engine(url, busy_timeout_s=0.3)
    upgrade(engine)
    return make_api(engine, make_config(url, db_busy_timeout_s=0.3))


def _assert_503_then_ok(api, release):
    b = body(batch([event()], [heartbeat()]))
    try:
        r = api.post(b)
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1 and "busy" in r.json()["detail"]
    finally:
        release()
    assert api.counts()["event"] == 0
    r = api.post(b)
    assert r.status_code == 200 and r.json()["accepted"] == 2
    assert 'hinder_ingest_batches_total{result="overloaded"} 1.0' in api.client.get("/metrics").text


def test_locked_sqlite_gives_503_then_succeeds(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    api = _short_timeout_api(url)
    holder = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock

    def release():
        holder.execute("ROLLBACK")
        holder.close()

    _assert_503_then_ok(api, release)


@pytest.mark.postgres
def test_locked_postgresql_table_gives_503_then_succeeds(pg_url):
    api = _short_timeout_api(pg_url)
    holder = psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"))
    holder.execute("LOCK TABLE event IN ACCESS EXCLUSIVE MODE")  # held until rollback

    def release():
        holder.rollback()
        holder.close()

    _assert_503_then_ok(api, release)


@pytest.mark.postgres
def test_unreachable_postgresql_gives_503(pg_server):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    api = make_api(make_engine(url), make_config(url))
    r = api.post(body(batch([event()], [heartbeat()])))
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert api.client.get("/healthz").status_code == 503


def test_an_id_repeated_inside_one_batch_is_stored_and_counted_once(db_engine, db_url):
    seen = []
    hooks = [marks.on_ingest, lambda conn, stored: seen.append(len(stored.events))]
    ev = event()
    result = Ingestor(db_engine, make_config(db_url), hooks=hooks).store(batch([ev, ev, event()], [heartbeat()]))
    assert (result.events_stored, result.events_duplicate) == (2, 1)
    assert seen == [2]
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT SUM(count) FROM disruption_count")).scalar_one() == 2


def test_new_events_beside_a_stored_heartbeat_are_stored_and_counted_once(db_engine, db_url):
    # The first try assumes every record is new; the stored heartbeat makes it roll back and store again, carefully.
    ingestor = Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest])
    hb = heartbeat()
    ingestor.store(batch([event()], [hb]))
    result = ingestor.store(batch([event(), event()], [hb]))
    assert (result.events_stored, result.events_duplicate, result.heartbeats_stored, result.heartbeats_duplicate) == (
        2, 0, 0, 1)
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM event")).scalar_one() == 3
        assert conn.execute(sa.text("SELECT COUNT(*) FROM heartbeat")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT SUM(count) FROM disruption_count")).scalar_one() == 3


@pytest.mark.parametrize("skew_s, moved", [(3600.0, True), (-7200.0, True), (900.0, True), (120.0, False)])
def test_a_wrong_device_clock_is_corrected_not_refused(db_engine, db_url, skew_s, moved):
    """Records are checked against the device's own clock (sent_at) and stored on the collector's."""
    from contract import records

    now = time.time()
    device_now = now + skew_s
    ev = event("hang", "firefox", device_now - 30, duration_s=5)
    hb = heartbeat(device_now - 1)
    payload = batch([ev], [hb], sent_at=records.format_time(device_now))
    Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]).store_body(json.dumps(payload).encode(), None, now=now)
    with db_engine.connect() as conn:
        start = conn.execute(sa.text("SELECT start FROM event")).scalar_one()
        beat = conn.execute(sa.text("SELECT time FROM heartbeat")).scalar_one()
        skew = conn.execute(sa.text("SELECT clock_skew_s FROM device")).scalar_one()
    expected_shift = skew_s if moved else 0.0
    assert start == pytest.approx(device_now - 30 - expected_shift, abs=0.01)
    assert beat == pytest.approx(device_now - 1 - expected_shift, abs=0.01)
    assert skew == pytest.approx(skew_s, abs=0.01)


def test_future_records_without_sent_at_are_still_refused(db_engine, db_url):
    payload = batch([event(start=time.time() + 7200)])
    del payload["sent_at"]
    with pytest.raises(Rejected) as exc:
        Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]).store(payload)
    assert exc.value.status == 422 and exc.value.detail["errors"][0]["field"] == "start"
