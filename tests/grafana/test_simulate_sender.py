"""Sending the simulated fleet: batches within the contract's limits, stored once by a real collector."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from contract.check import validate_batch
from contract.records import Limits, parse_time
from hinder.simulate.fleet import Fleet
from hinder.simulate.sender import Sender, SimulationError, chunk_batches

END = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc).timestamp()  # a Friday afternoon


def _history(fleet: Fleet):
    """The batches of a device's history, for ``Sender.send_all``."""
    return lambda dev: chunk_batches(dev.device_id, *fleet.records(dev))


@pytest.fixture(scope="module")
def fleet():
    return Fleet(devices=160, days=14, seed=7, end=END, heartbeat_s=900)


def test_records_stay_inside_the_period_and_batches_inside_the_limits(fleet):
    for dev in fleet.devices[:40]:
        for batch in chunk_batches(dev.device_id, *fleet.records(dev)):
            assert len(batch["heartbeats"]) <= Limits().max_heartbeats
            times = [parse_time(h["time"]) for h in batch["heartbeats"]] + [parse_time(e["start"]) for e in batch["events"]]
            assert all(fleet.start <= t <= fleet.end for t in times)
            assert parse_time(batch["sent_at"]) == max(times)


def test_chunking_splits_oversized_batches_without_losing_records(fleet):
    dev = max(fleet.devices[:20], key=lambda d: len(fleet.records(d)[1]))
    events, heartbeats = fleet.records(dev)
    small = Limits(max_events=3, max_heartbeats=20)
    batches = list(chunk_batches(dev.device_id, events, heartbeats, small))
    assert len(batches) > len(heartbeats) // 20
    assert [e for b in batches for e in b["events"]] == events
    assert [h for b in batches for h in b["heartbeats"]] == heartbeats
    for b in batches:
        validate_batch(b, now=parse_time(b["sent_at"]) + 1, limits=small)  # as if sent then, right after


def test_sender_stores_every_record_once_in_a_real_collector(real_collector):
    """Through the real ingest API: everything generated is stored, and a replay stores nothing twice."""
    collector = real_collector
    fleet = Fleet(6, 1, seed=3, end=time.time() - 60)
    expected = {e["id"] for d in fleet.devices for e in fleet.records(d)[0]}
    stats = Sender(collector.url, collector.agent_token, concurrency=3, rate=50).send_all(fleet.devices, _history(fleet))
    assert stats.accepted > 0 and stats.duplicates == 0 and stats.events == len(expected)
    stored = {e["id"] for d in fleet.devices for e in collector.events(device_id=d.device_id)}
    assert stored == expected
    again = Sender(collector.url, collector.agent_token).send_all(fleet.devices, _history(fleet))
    assert again.accepted == 0 and again.duplicates == stats.accepted


def test_sender_reports_a_refused_token(real_collector):
    fleet = Fleet(2, 1, seed=4, end=time.time() - 60)
    with pytest.raises(SimulationError, match="401"):
        Sender(real_collector.url, "not-the-token").send_all(fleet.devices, _history(fleet))
