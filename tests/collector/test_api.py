"""The HTTP API on SQLite and PostgreSQL: ingest, idempotence, read-back, devices, every refusal."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from contract import records
from tests.collector.batches import DEVICE, batch, body, event, heartbeat
from tests.collector.conftest import ADMIN, AGENT

EMPTY = {"device": 0, "event": 0, "heartbeat": 0, "disruption_count": 0}


def test_batch_is_stored_once_and_retries_count_as_duplicates(api):
    b = batch([event("crash"), event("hang", duration_s=12.5, active_s=10.0)], [heartbeat()])
    r = api.post(body(b))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "duplicates": 0, "events": {"stored": 2, "duplicate": 0},
                        "heartbeats": {"stored": 1, "duplicate": 0}}
    again = api.post(body(b, compress=True), headers={**AGENT, "Content-Encoding": "gzip"})
    assert again.status_code == 200
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 3
    assert api.counts() == {"device": 1, "event": 2, "heartbeat": 1, "disruption_count": 2}
    # a batch mixing a new event with an old one stores only the new one
    mixed = batch([b["events"][0], event("slow_app")])
    r = api.post(body(mixed))
    assert r.json()["events"] == {"stored": 1, "duplicate": 1}
    assert api.counts()["event"] == 3
    metrics = api.client.get("/metrics").text
    assert 'hinder_ingest_records_total{kind="event",result="duplicate"} 3.0' in metrics
    assert 'hinder_ingest_records_total{kind="event",result="stored"} 3.0' in metrics
    assert 'hinder_ingest_batches_total{result="accepted"} 3.0' in metrics


def test_events_read_back_with_their_fields_and_filters(api):
    now = time.time()
    evs = [event("crash", "firefox", now - 300, details={"signal": "SIGSEGV", "core_dumped": True}),
           event("hang", "excel", now - 200, duration_s=30.0, active_s=25.0, severity="warning"),
           event("crash", "excel", now - 100)]
    assert api.post(body(batch(evs, [heartbeat()]))).status_code == 200
    assert api.post(body(batch([event("crash", start=now - 50)], device_id="device-0002"))).status_code == 200

    def get(**params):
        r = api.client.get("/api/v1/events", params=params, headers=ADMIN)
        assert r.status_code == 200, r.text
        return r.json()["events"]

    everything = get()
    assert [e["start"] for e in everything] == sorted(e["start"] for e in everything)
    first = everything[0]
    assert first["id"] == evs[0]["id"] and first["device_id"] == DEVICE and first["app"] == "firefox"
    assert first["details"] == {"signal": "SIGSEGV", "core_dumped": True}
    assert first["start"] == evs[0]["start"]
    hang = get(type="hang")[0]
    assert (hang["duration_s"], hang["active_s"], hang["severity"]) == (30.0, 25.0, "warning")
    assert records.parse_time(hang["end"]) == pytest.approx(records.parse_time(hang["start"]) + 30.0, abs=0.002)
    assert len(get(type=["crash", "hang"])) == 4
    assert [e["device_id"] for e in get(device_id="device-0002")] == ["device-0002"]
    assert len(get(since=records.format_time(now - 250), until=records.format_time(now - 60))) == 2
    assert len(get(limit=2)) == 2


@pytest.mark.parametrize("params, needle", [
    ({"type": "explosion"}, "unknown event type"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-11-23T12:00:00"}, "until"),
    ({"limit": 10_000_000}, "limit"),
])
def test_bad_event_queries_are_400(api, params, needle):
    r = api.client.get("/api/v1/events", params=params, headers=ADMIN)
    assert r.status_code == 400 and needle in r.json()["detail"]


def test_devices_show_inventory_and_state(api_factory):
    api = api_factory(silent_after_s=60)
    now = time.time()
    api.post(body(batch([], [heartbeat(now - 120), heartbeat(now - 1, spool_dropped_total=7, agent_version="0.2.0")])))
    api.post(body(batch([event()], device_id="device-0002")))  # events only: never heartbeated
    devices = {d["id"]: d for d in api.client.get("/api/v1/devices", headers=ADMIN).json()["devices"]}
    d = devices[DEVICE]
    assert d["state"] == "reporting"
    assert (d["site"], d["department"], d["os"], d["agent_version"], d["spool_dropped_total"]) == \
        ("Paris", "Finance", "linux", "0.2.0", 7)
    assert abs(d["clock_skew_s"]) < 5
    assert devices["device-0002"]["state"] == "silent" and devices["device-0002"]["site"] == "unknown"
    silent = api.client.get("/api/v1/devices", params={"state": "silent"}, headers=ADMIN).json()["devices"]
    assert [x["id"] for x in silent] == ["device-0002"]
    # an older heartbeat arriving late does not overwrite newer inventory
    api.post(body(batch([], [heartbeat(now - 30, agent_version="0.1.0", site="Lyon")])))
    d = api.client.get("/api/v1/devices", headers=ADMIN).json()["devices"][0]
    assert (d["site"], d["agent_version"]) == ("Paris", "0.2.0")


def test_heartbeat_endpoint_takes_heartbeat_batches(api):
    r = api.post(body(batch([], [heartbeat()])), path="/api/v1/heartbeat")
    assert r.status_code == 200 and r.json()["heartbeats"]["stored"] == 1


def _big_details():
    return {f"k{i}": "x" * 500 for i in range(30)}


BAD_BODIES = {
    "malformed json": (b'{"schema": 1, "events": [', {}, 400, "not valid JSON"),
    "not utf-8": (b'\xff\xfe{}', {}, 400, "not valid JSON"),
    "bad gzip": (b"this is not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
    "truncated gzip": (gzip.compress(b'{"a": 1}' * 100)[:20], {"Content-Encoding": "gzip"}, 400, "gzip"),
    "unknown encoding": (b"{}", {"Content-Encoding": "br"}, 415, "Content-Encoding"),
    "wrong content type": (b"{}", {"Content-Type": "text/plain"}, 415, "application/json"),
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_bad_bodies_are_refused_and_nothing_is_stored(api, name):
    content, headers, status, needle = BAD_BODIES[name]
    r = api.post(content, headers={**AGENT, **headers})
    assert r.status_code == status, r.text
    assert needle in json.dumps(r.json()["detail"])
    assert api.counts() == EMPTY


def _with_event(**change):
    ev = event()
    ev.update(change)
    return batch([ev], [heartbeat()])


def _without(field):
    ev = event()
    del ev[field]
    return batch([ev], [heartbeat()])


CONTRACT = {
    "wrong type": (_with_event(duration_s="long"), "event", 0, "duration_s"),
    "unknown event type": (_with_event(type="explosion"), "event", 0, "type"),
    "missing app": (_without("app"), "event", 0, "app"),
    "missing start": (_without("start"), "event", 0, "start"),
    "far future": (_with_event(start=records.format_time(time.time() + 7200)), "event", 0, "start"),
    "far past": (_with_event(start=records.format_time(time.time() - 90 * 86400)), "event", 0, "start"),
    "bad heartbeat": (batch([event()], [dict(heartbeat(), active_s=-1)]), "heartbeat", 0, "active_s"),
    "wrong schema": (batch([event()], schema=2), "batch", None, "schema"),
    "not an object": ([1, 2, 3], "batch", None, "body"),
}


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_errors_are_422_with_each_error_named(api, name):
    payload, kind, index, field = CONTRACT[name]
    r = api.post(body(payload))
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]["errors"]
    assert {"kind": kind, "index": index, "field": field} == {k: errors[0][k] for k in ("kind", "index", "field")}
    assert errors[0]["error"]
    assert api.counts() == EMPTY


def test_one_bad_record_rejects_the_whole_batch(api):
    good, bad = event(), dict(event(), type="explosion")
    r = api.post(body(batch([good, bad, good | {"id": records.new_id()}], [heartbeat()])))
    assert r.status_code == 422
    assert [(e["index"], e["field"]) for e in r.json()["detail"]["errors"]] == [(1, "type")]
    assert api.counts() == EMPTY


def test_size_limits(api_factory):
    api = api_factory(max_body_bytes=20_000, max_events=10)
    big = batch([event(details=_big_details())] * 3)
    r = api.post(body(big))
    assert r.status_code == 413 and "limit of 20000 bytes" in r.json()["detail"]
    # a small gzip body that inflates beyond the limit (a gzip bomb) is refused without inflating it all
    bomb = gzip.compress(b" " * 10_000_000)
    assert len(bomb) < 20_000
    r = api.post(bomb, headers={**AGENT, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["detail"]
    over_count = batch([event() for _ in range(11)])
    r = api.post(body(over_count))
    assert r.status_code == 413
    assert r.json()["detail"]["errors"][0]["field"] == "events" and "limit of 10" in r.json()["detail"]["errors"][0]["error"]
    assert api.counts() == EMPTY
    assert 'hinder_ingest_batches_total{result="too_large"} 3.0' in api.client.get("/metrics").text


def test_chunked_body_over_the_limit_is_413(api_factory):
    api = api_factory(max_body_bytes=5_000)

    def chunks():  # no Content-Length: the server must count while streaming
        yield b'{"schema": 1, "events": ['
        for _ in range(100):
            yield b'"' + b"x" * 100 + b'",'
        yield b"1]}"

    r = api.client.post("/api/v1/events", content=chunks(), headers=AGENT)
    assert r.status_code == 413
    assert api.counts() == EMPTY


@pytest.mark.parametrize("path, method, headers", [
    ("/api/v1/events", "POST", {}),
    ("/api/v1/events", "POST", {"Authorization": "Bearer wrong-token-123"}),
    ("/api/v1/events", "POST", {"Authorization": "Basic dGVzdDp0ZXN0"}),
    ("/api/v1/events", "POST", ADMIN),  # the admin token cannot ingest
    ("/api/v1/heartbeat", "POST", ADMIN),
    ("/api/v1/events", "GET", {}),
    ("/api/v1/events", "GET", AGENT),  # agent tokens cannot read
    ("/api/v1/devices", "GET", AGENT),
    ("/api/v1/devices", "GET", {"Authorization": "Bearer "}),
])
def test_unauthorized_requests_get_401_and_store_nothing(api, path, method, headers):
    content = body(batch([event()], [heartbeat()])) if method == "POST" else None
    r = api.client.request(method, path, content=content, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.json()["detail"]
    assert api.counts() == EMPTY
    refused = 'hinder_ingest_batches_total{result="unauthorized"} 1.0' in api.client.get("/metrics").text
    assert refused == (method == "POST"), "a refused batch is counted, a refused read is not"


def test_rate_bound_gives_429_with_retry_after(api_factory):
    api = api_factory(max_batches_per_s=1)
    statuses = [api.post(body(batch([], [heartbeat()]))).status_code for _ in range(3)]
    assert statuses[0] == 200 and 429 in statuses
    r = api.post(body(batch([], [heartbeat()])))
    if r.status_code == 429:
        assert int(r.headers["Retry-After"]) >= 1


def test_healthz_reports_schema_version(api):
    r = api.client.get("/healthz")
    assert r.status_code == 200 and r.json()["schema_version"] >= 1


@pytest.mark.parametrize("enabled", [True, False])
def test_background_jobs_switch(db_engine, db_url, enabled):
    import threading

    from fastapi.testclient import TestClient

    from collector.api.app import create_app
    from tests.collector.conftest import make_config

    before = {t.ident for t in threading.enumerate()}
    with TestClient(create_app(make_config(db_url, background_jobs=enabled), db_engine)):
        started = {t.name for t in threading.enumerate() if t.ident not in before}
    assert ("hinder-retention" in started) is enabled


def test_an_internal_error_is_a_json_500_and_stores_nothing(db_engine, db_url):
    from fastapi.testclient import TestClient

    from collector.api.app import create_app
    from tests.collector.conftest import make_config, table_counts

    def broken(conn, stored):
        raise KeyError("bug in an extension")

    client = TestClient(create_app(make_config(db_url), db_engine, background_jobs=False), raise_server_exceptions=False)
    hooks = client.app.state.ingestor.hooks
    client.app.state.ingestor.hooks = (broken,)
    r = client.post("/api/v1/events", content=body(batch([event()], [heartbeat()])), headers=AGENT)
    assert r.status_code == 500 and "nothing was stored" in r.json()["detail"]
    assert table_counts(db_engine) == EMPTY
    assert 'hinder_ingest_batches_total{result="error"} 1.0' in client.get("/metrics").text
    client.app.state.ingestor.hooks = hooks
    assert client.post("/api/v1/events", content=body(batch([event()])), headers=AGENT).status_code == 200
