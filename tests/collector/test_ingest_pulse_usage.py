"""Ingest of the pulse's answers and the app-time totals (contract.records.Feedback, Usage): once, bounded."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from collector.aggregates import marks
from collector.ingest import Ingestor, Rejected
from collector.models import app_usage_table, feedback_table
from tests.collector.batches import batch, event, feedback, usage
from tests.collector.conftest import make_config
from contract import records
from contract.records import MAX_ANSWERS_PER_DAY

HOUR = 3600


def _rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def test_an_answer_is_stored_once_per_event_whatever_is_resent(db_engine, db_url):
    ingestor, now = Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]), time.time()
    crash = event(start=now - 60)
    first = feedback(crash["id"], "over_15_minutes", now - 30)
    result = ingestor.store(batch([crash], feedback=[first]), now=now)
    assert (result.events_stored, result.others_stored) == (1, 1)
    # the same answer resent, and a second answer to the same event from the same device: the first one stands
    again = ingestor.store(batch(feedback=[first, feedback(crash["id"], "none", now - 20)]), now=now)
    assert (again.others_stored, again.others_duplicate) == (0, 2)
    # an answer may come before its event, and another device's answer about the same event id is its own
    ingestor.store(batch(feedback=[feedback(crash["id"], "lost_work", now - 10)], device_id="device-0002"), now=now)
    rows = sorted(_rows(db_engine, feedback_table), key=lambda r: r["device_id"])
    assert [(r["device_id"], r["event_id"], r["answer"]) for r in rows] == [
        ("device-0001", crash["id"], "over_15_minutes"), ("device-0002", crash["id"], "lost_work")]


def test_a_periods_largest_total_is_kept_never_a_sum(db_engine, db_url):
    ingestor, now = Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]), time.time()
    period = (now // HOUR - 3) * HOUR
    ingestor.store(batch(usage=[usage("excel", period, 600.0), usage("sap", period, 100.0)]), now=now)
    # the agent restarted and sent the period again with its total so far; a retry; an older, smaller total
    ingestor.store(batch(usage=[usage("excel", period, 1500.0), usage("excel", period, 900.0)]), now=now)
    ingestor.store(batch(usage=[usage("excel", period, 1500.0)]), now=now)
    rows = {(r["app"], r["start"]): r["focus_s"] for r in _rows(db_engine, app_usage_table)}
    assert rows == {("excel", period): 1500.0, ("sap", period): 100.0}


def test_answers_and_totals_have_their_own_quota_per_device_day(db_engine, db_url):
    ingestor = Ingestor(db_engine, make_config(db_url, max_records_per_device_day=100), hooks=[marks.on_ingest])
    now = time.time()
    day = (now // 86400 - 2) * 86400
    ingestor.store(batch(usage=[usage(f"app{i}", day + HOUR, 60.0) for i in range(100)]), now=now)
    ingestor.store(batch(usage=[usage(f"app{i}", day + HOUR, 90.0) for i in range(100)]), now=now)  # known: free
    with pytest.raises(Rejected) as refused:
        ingestor.store(batch(usage=[usage("app100", day + 2 * HOUR, 60.0)]), now=now)
    assert refused.value.status == 422
    assert refused.value.detail["errors"][0]["kind"] == "usage"
    assert len(_rows(db_engine, app_usage_table)) == 100


def test_a_device_sending_more_answers_than_the_pulse_can_ask_is_refused_beyond_the_bound(db_engine, db_url):
    ingestor, now = Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]), time.time()
    day = (now // 86400 - 1) * 86400 + 3600
    crashes = [event(start=day + 60 * i) for i in range(MAX_ANSWERS_PER_DAY + 5)]
    answers = [feedback(c["id"], "lost_work", day + 60 * i + 30) for i, c in enumerate(crashes)]
    with pytest.raises(Rejected) as refused:
        ingestor.store(batch(crashes, feedback=answers), now=now)
    errors = refused.value.detail["errors"]
    assert [(e["kind"], e["index"]) for e in errors] == [("feedback", i) for i in range(MAX_ANSWERS_PER_DAY, len(answers))]
    assert "MAX_ANSWERS_PER_DAY" in errors[0]["error"]
    # what the agent does with the 422: set the named answers aside, send the rest
    assert ingestor.store(batch(crashes, feedback=answers[:MAX_ANSWERS_PER_DAY]), now=now).others_stored == MAX_ANSWERS_PER_DAY


def test_a_skewed_devices_periods_are_taken_and_put_back_on_the_collectors_hours(db_engine, db_url):
    """A device whose clock is an hour and 7 s ahead aligns its periods on its own clock; the batch is moved by the
    skew (contract.records.clock_correction) and each period lands on the collector's hour it belongs to."""
    ingestor, now = Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]), time.time()
    skew = HOUR + 7.0
    device_period = ((now + skew) // HOUR - 3) * HOUR  # aligned on the device's clock
    sent = batch(usage=[usage("excel", device_period, 600.0)])
    sent["sent_at"] = records.format_time(now + skew)
    ingestor.store(sent, now=now)
    (row,) = _rows(db_engine, app_usage_table)
    assert row["start"] == device_period - HOUR  # the nearest hour of the collector's clock
    # unaligned on the device's own clock: refused, named
    sent = batch(usage=[usage("excel", device_period, 600.0)])
    sent["usage"][0]["start"] = records.format_time(device_period + 60)
    with pytest.raises(Rejected) as refused:
        ingestor.store(sent, now=now)
    assert refused.value.detail["errors"][0]["field"] == "start"
