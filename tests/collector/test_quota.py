"""The per-device quota (collector/quota.py): records overlapping one device-day, counted at ingest, bounded."""

from __future__ import annotations

import time

import pytest

from collector.aggregates import marks
from collector.ingest import Ingestor, Rejected
from tests.collector.batches import batch, event, heartbeat
from tests.collector.conftest import make_config, table_counts

DAY = 86400
QUOTA = 100


def _ingestor(db_engine, db_url) -> Ingestor:
    return Ingestor(db_engine, make_config(db_url, max_records_per_device_day=QUOTA), hooks=[marks.on_ingest])


def _noon(now: float, days_ago: int) -> float:
    return (now // DAY - days_ago) * DAY + DAY / 2


def test_records_beyond_a_device_days_quota_are_named_and_nothing_is_stored(db_engine, db_url):
    ingestor, now = _ingestor(db_engine, db_url), time.time()
    day = _noon(now, 2)
    ingestor.store(batch([event(start=day + i) for i in range(80)]), now=now)
    over = batch([event(start=day + 100 + i) for i in range(40)])
    with pytest.raises(Rejected) as refused:
        ingestor.store(over, now=now)
    assert refused.value.status == 422
    errors = refused.value.detail["errors"]
    assert [e["index"] for e in errors] == list(range(20, 40))  # the first 20 fit: only those beyond are named
    assert {(e["kind"], e["field"]) for e in errors} == {("event", "start")}
    assert "more than 100 events of this device overlap" in errors[0]["error"]
    assert table_counts(db_engine)["event"] == 80  # the batch is refused whole
    # what an agent does with a 422: set the named records aside and send the rest
    over["events"] = over["events"][:20]
    assert ingestor.store(over, now=now).events_stored == 20
    # another device, and another day of the same device, have their own quota
    assert ingestor.store(batch([event(start=day + i) for i in range(QUOTA)], device_id="device-0002"),
                          now=now).events_stored == QUOTA
    assert ingestor.store(batch([event(start=day - DAY + i) for i in range(QUOTA)]), now=now).events_stored == QUOTA


def test_a_long_record_counts_on_every_day_it_overlaps_and_a_retry_counts_nothing(db_engine, db_url):
    ingestor, now = _ingestor(db_engine, db_url), time.time()
    first = _noon(now, 6)
    long_events = batch([event("connectivity_loss", "network", start=first + i, duration_s=3 * DAY,
                               details={"cause": "no_link"}) for i in range(QUOTA)])
    assert ingestor.store(long_events, now=now).events_stored == QUOTA
    assert ingestor.store(long_events, now=now).events_duplicate == QUOTA  # retried: not counted again
    for days_later in (1, 2, 3):  # the days the long events reach are full
        with pytest.raises(Rejected):
            ingestor.store(batch([event(start=first + days_later * DAY)]), now=now)
    assert ingestor.store(batch([event(start=first + 4 * DAY)]), now=now).events_stored == 1


def test_heartbeats_have_their_own_quota(db_engine, db_url):
    ingestor, now = _ingestor(db_engine, db_url), time.time()
    end = _noon(now, 1)
    # heartbeats whose intervals reach back over ten days: each one counts on every day it covers
    hbs = [heartbeat(end + i, interval_s=10 * DAY, active_s=0.0) for i in range(QUOTA + 5)]
    with pytest.raises(Rejected) as refused:
        ingestor.store(batch([], hbs), now=now)
    assert [(e["kind"], e["index"]) for e in refused.value.detail["errors"]] == [("heartbeat", i)
                                                                               for i in range(QUOTA, QUOTA + 5)]
    assert ingestor.store(batch([event(start=end - 5 * DAY)], hbs[:QUOTA]), now=now).heartbeats_stored == QUOTA
