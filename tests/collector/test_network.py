"""Network quality counted on arrival (collector.aggregates.network): outages by interface kind, working time per
Wi-Fi signal band, blips from the agents' running counts; stored (SQLite and PostgreSQL) and exported by a real
collector, with every value an agent sends bounded."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregates import DAY, marks, network
from collector.config import parse_config
from collector.ingest import Ingestor
from collector.models import network_count_table, network_daily_table, network_device_table
from tests.collector.batches import batch, event, heartbeat
from tests.conftest import assert_promtool_clean

NOW = time.time()
T0 = NOW // DAY * DAY - DAY + 10 * 3600  # the first heartbeat's time: yesterday 10:00 UTC (no outage crosses a week's end)


def _hb(k: int, details: dict, site: str = "Paris", interval_s: float = 60.0, active_s: float = 30.0) -> dict:
    return heartbeat(T0 + 60 * k, site=site, interval_s=interval_s, active_s=active_s, details=details)


def _outage(k: int, kind, duration_s: float = 120.0) -> dict:
    details = {"cause": "no_link"} if kind is None else {"cause": "no_link", "interface_kind": kind}
    return event("connectivity_loss", "network", T0 + 600 * k, duration_s=duration_s, details=details)


# What one Paris device and one Lyon device send, and what it must count.
PARIS = [
    [_hb(1, {"wifi_signal_dbm": -60.0}), _hb(2, {"wifi_signal_dbm": -67}),  # good (-67 is still good)
     _hb(3, {"wifi_signal_dbm": -75.5, "connectivity_blips_total": 3}),  # fair; 3 blips since the agent started
     _hb(4, {"wifi_signal_dbm": -80.0, "connectivity_blips_total": 5}),  # fair (-80 is still fair); +2
     _hb(5, {"wifi_signal_dbm": -81.0, "connectivity_blips_total": 2})],  # poor; a restart: 2 counted from 0
    [_hb(6, {"wifi_signal_dbm": "strong", "connectivity_blips_total": 2**62}),  # +60 at most
     _hb(7, {"wifi_signal_dbm": 1000, "connectivity_blips_total": True}),  # no reading; no count
     _hb(8, {"wifi_signal_dbm": True, "connectivity_blips_total": -4}),
     _hb(9, {"wifi_signal_dbm": -90, "connectivity_blips_total": 2**62 + 1}, active_s=0.0),  # poor, 0 s; +1
     _hb(10, {})],  # wired: no reading
]
PARIS_EVENTS = [_outage(1, "wifi"), _outage(2, "wifi", 30.0), _outage(3, "vpn"), _outage(4, "wired"),
                _outage(5, "satellite"), _outage(6, None), _outage(7, ["wifi"])]  # the last three: unknown
LYON = [[_hb(1, {"wifi_signal_dbm": -85, "connectivity_blips_total": 7}, site="Lyon", interval_s=300, active_s=200)]]
EXPECTED = {  # (measure, label, site) -> (count, seconds)
    ("outage", "wifi", "Paris"): (2, 150.0), ("outage", "vpn", "Paris"): (1, 120.0),
    ("outage", "wired", "Paris"): (1, 120.0), ("outage", "unknown", "Paris"): (3, 360.0),
    ("signal", "good", "Paris"): (2, 60.0), ("signal", "fair", "Paris"): (2, 60.0),
    ("signal", "poor", "Paris"): (2, 30.0), ("blip", "", "Paris"): (3 + 2 + 2 + 60 + 1, 0.0),
    ("signal", "poor", "Lyon"): (1, 200.0), ("blip", "", "Lyon"): (7, 0.0),
}


def _send(store) -> None:
    store(batch(PARIS_EVENTS, PARIS[0], device_id="device-net-paris"))
    store(batch([], PARIS[0][:2], device_id="device-net-paris"))  # a retried batch counts nothing twice
    store(batch([], PARIS[1], device_id="device-net-paris"))
    store(batch([], [_hb(0, {"connectivity_blips_total": 50})], device_id="device-net-paris"))  # new but older: 0
    store(batch([], LYON[0], device_id="device-net-lyon"))


def test_signal_bands_and_hostile_readings():
    assert [network.signal_band(v) for v in (-30, -67, -67.01, -80, -80.5, -120)] == \
        ["good", "good", "fair", "fair", "poor", "poor"]
    for hostile in (float("nan"), float("inf"), 1000, -121, True, "strong", None, [-60], {"dbm": -60}):
        assert network.signal_band(hostile) is None
    assert [network.interface_kind(v) for v in ("wifi", "vpn", "WIFI", None, 3, ["wired"])] == \
        ["wifi", "vpn", "unknown", "unknown", "unknown", "unknown"]


def test_counted_on_arrival(db_engine, db_url):
    config = parse_config({}, overrides={"db": db_url}, env={})
    ingestor = Ingestor(db_engine, config, hooks=[marks.on_ingest])
    _send(lambda b: ingestor.store(json.loads(json.dumps(b)), now=NOW))
    with db_engine.connect() as conn:
        t = network_count_table.c
        got = {(m, label, site): (n, s) for m, label, site, n, s in
               conn.execute(sa.select(t.measure, t.label, t.site, t["count"], t.seconds))}
        d = network_daily_table.c
        daily = conn.execute(sa.select(d.day, sa.func.sum(d["count"]), sa.func.sum(d.seconds))
                             .group_by(d.day)).all()
        state = {r.device_id: (r.band, r.blips_seen) for r in conn.execute(sa.select(network_device_table))}
    assert got == EXPECTED
    assert all(day % DAY == 0 for day, _n, _s in daily)
    assert sum(n for _d, n, _s in daily) == sum(n for n, _s in EXPECTED.values())
    assert state == {"device-net-paris": ("", 2**62 + 1), "device-net-lyon": ("poor", 7)}


def _post(collector, b: dict) -> None:
    r = httpx.post(f"{collector.url}/api/v1/events", content=gzip.compress(json.dumps(b).encode()),
                   headers={**collector.agent_headers(), "Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 200, r.text


def test_a_real_collector_exports_what_was_sent(collector_factory):
    collector = collector_factory(config='[report]\nmin_group_size = 1\n')
    _send(lambda b: _post(collector, b))
    text = collector.metrics()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}

    def value(name: str, **labels) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    for (measure, label, site), (n, seconds) in EXPECTED.items():
        if measure == "outage":
            assert value("hinder_connectivity_outages_by_interface_total", interface_kind=label, site=site) == n
            assert value("hinder_connectivity_outage_seconds_by_interface_total", interface_kind=label,
                         site=site) == seconds
        elif measure == "signal":
            assert value("hinder_wifi_signal_seconds_total", band=label, site=site) == seconds
        else:
            assert value("hinder_connectivity_blips_total", site=site) == n
    assert value("hinder_wifi_devices", band="poor", site="Lyon") == 1  # Paris is wired now
    assert not any(name == "hinder_wifi_devices" and dict(labels).get("site") == "Paris" for name, labels in samples)
    assert_promtool_clean(text)
