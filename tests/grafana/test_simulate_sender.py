"""Sending the simulated fleet: batches within the contract's limits, stored once by a real collector."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
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
            times = [parse_time(r[key]) for section, key in (("heartbeats", "time"), ("events", "start"),
                                                             ("feedback", "time"), ("usage", "start"))
                     for r in batch.get(section, [])]
            ends = [parse_time(e["start"]) + e["duration_s"] for e in batch["events"]]
            assert all(fleet.start <= t <= fleet.end for t in times + ends)
            # made when its newest record was: an event is sent once it has ended
            assert parse_time(batch["sent_at"]) == pytest.approx(max(times + ends), abs=0.001)


def test_chunking_splits_oversized_batches_without_losing_records(fleet):
    dev = max(fleet.devices[:20], key=lambda d: len(fleet.records(d).feedback))
    records = fleet.records(dev)
    small = Limits(max_events=3, max_heartbeats=20, max_feedback=1, max_usage=30)
    batches = list(chunk_batches(dev.device_id, *records, limits=small))
    assert len(batches) > len(records.heartbeats) // 20 and len(records.feedback) > 1
    for section in records._fields:
        assert [r for b in batches for r in b.get(section, [])] == getattr(records, section), section
    for b in batches:
        validate_batch(b, now=parse_time(b["sent_at"]) + 1, limits=small)  # as if sent then, right after


def _answers_and_totals(collector) -> tuple[set, set]:
    """The feedback and app_usage rows of the simulated devices of seed 3, read from the collector's database."""
    with closing(sqlite3.connect(collector.db.removeprefix("sqlite:///"))) as db:
        feedback = set(db.execute("SELECT device_id, event_id, time, answer FROM feedback WHERE device_id LIKE 'sim-3-%'"))
        usage = set(db.execute("SELECT device_id, app, start, interval_s, focus_s FROM app_usage "
                               "WHERE device_id LIKE 'sim-3-%'"))
    return feedback, usage


def test_sender_stores_every_record_once_in_a_real_collector(real_collector):
    """Through the real ingest API: everything generated is stored, answers and app time included, and a replay
    stores nothing twice."""
    collector = real_collector
    fleet = Fleet(6, 4, seed=3, end=time.time() - 60)  # four days hold two weekdays, whatever the day
    records = {d.device_id: fleet.records(d) for d in fleet.devices}
    expected = {e["id"] for r in records.values() for e in r.events}
    stats = Sender(collector.url, collector.agent_token, concurrency=3, rate=50).send_all(fleet.devices, _history(fleet))
    assert stats.accepted > 0 and stats.duplicates == 0 and stats.events == len(expected)
    stored = {e["id"] for d in fleet.devices for e in collector.events(device_id=d.device_id)}
    assert stored == expected
    feedback = {(dev, f["event_id"], round(parse_time(f["time"]), 3), f["answer"]) for dev, r in records.items()
                for f in r.feedback}
    usage = {(dev, u["app"], parse_time(u["start"]), u["interval_s"], u["focus_s"]) for dev, r in records.items()
             for u in r.usage}
    assert feedback and usage and (stats.feedback, stats.usage) == (len(feedback), len(usage))
    rows = _answers_and_totals(collector)
    assert {(d, e, round(t, 3), a) for d, e, t, a in rows[0]} == feedback and rows[1] == usage
    again = Sender(collector.url, collector.agent_token).send_all(fleet.devices, _history(fleet))
    # the collector counts a period's app time as accepted each time it comes (it keeps the largest total sent)
    assert again.accepted == stats.usage and again.duplicates == stats.accepted - stats.usage
    assert _answers_and_totals(collector) == rows


def test_sender_reports_a_refused_token(real_collector):
    fleet = Fleet(2, 1, seed=4, end=time.time() - 60)
    with pytest.raises(SimulationError, match="401"):
        Sender(real_collector.url, "not-the-token").send_all(fleet.devices, _history(fleet))
