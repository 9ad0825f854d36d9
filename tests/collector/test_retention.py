"""Retention deletes old events and heartbeats, keeps recent ones and the counters."""

import time

import sqlalchemy as sa

from collector.ingest import Ingestor
from collector.retention import purge_expired
from tests.collector.batches import batch, event, heartbeat
from tests.collector.conftest import make_config, table_counts


def test_purge_deletes_only_expired_rows(db_engine, db_url):
    now = time.time()
    Ingestor(db_engine, make_config(db_url)).store(
        batch([event(start=now - 20 * 86400), event(start=now - 60)], [heartbeat(now - 20 * 86400), heartbeat(now)]))
    assert purge_expired(db_engine, retention_days=10, now=now) == {"events": 1, "heartbeats": 1}
    assert purge_expired(db_engine, retention_days=10, now=now) == {"events": 0, "heartbeats": 0}
    counts = table_counts(db_engine)
    assert (counts["event"], counts["heartbeat"], counts["device"]) == (1, 1, 1)
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT SUM(count) FROM disruption_count")).scalar_one() == 2
