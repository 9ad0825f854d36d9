"""Retention deletes old per-device rows, keeps recent ones, the label rollups and the counters."""

import time

import sqlalchemy as sa

from collector.aggregates import marks
from collector.aggregates.refresh import refresh
from collector.ingest import Ingestor
from collector.retention import purge_expired
from tests.collector.batches import batch, event, feedback, heartbeat, usage
from tests.collector.conftest import make_config, table_counts


def test_purge_deletes_only_expired_rows(db_engine, db_url):
    now = time.time()
    Ingestor(db_engine, make_config(db_url), hooks=[marks.on_ingest]).store(
        batch([event(start=now - 20 * 86400), event(start=now - 60)], [heartbeat(now - 20 * 86400), heartbeat(now)]))
    assert purge_expired(db_engine, retention_days=10, now=now)["event"] == 1
    assert set(purge_expired(db_engine, retention_days=10, now=now).values()) == {0}
    counts = table_counts(db_engine)
    assert (counts["event"], counts["heartbeat"], counts["device"]) == (1, 1, 1)
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT SUM(count) FROM disruption_count")).scalar_one() == 2


def test_purge_deletes_old_per_device_aggregates_and_keeps_label_rollups(db_engine, db_url):
    now = time.time()
    old, recent = now - 20 * 86400, now - 3600
    config = make_config(db_url)
    ingestor = Ingestor(db_engine, config, hooks=[marks.on_ingest])
    for t in (old, recent):
        outage = event("connectivity_loss", "network", t, duration_s=120, active_s=120, details={"cause": "no_link"})
        crash = event("crash", "7zFM.exe", t + 130)  # an uncatalogued executable: its daily lost time by raw name
        ingestor.store(batch([outage, crash], [heartbeat(t - 60 + 60 * i, interval_s=60.0, active_s=60.0) for i in range(4)],
                             feedback=[feedback(outage["id"], time_=t + 200)],
                             usage=[usage("excel", t // 3600 * 3600, 60.0)]), now=now)
    refresh(db_engine, config, now=now)

    def per_day(table, column):
        with db_engine.connect() as conn:
            return sorted({int(r[0]) // 86400 for r in conn.execute(sa.text(f"SELECT {column} FROM {table}"))})

    days = sorted({int(old) // 86400, int(recent) // 86400})
    for table, column in (("lost_hourly", "hour"), ("active_hourly", "hour"), ("outage_daily", "day"),
                          ("device_day_load", "day"), ("lost_rollup", "hour"), ("lost_daily", "day"),
                          ("network_daily", "day"), ("device_daily", "day"), ("app_lost_daily", "day")):
        assert per_day(table, column) == days, table
    deleted = purge_expired(db_engine, retention_days=10, now=now)
    assert {t: n > 0 for t, n in deleted.items()} == {**{t: True for t in ("event", "heartbeat", "lost_hourly",
                                                                          "active_hourly", "outage_daily",
                                                                          "device_day_load", "feedback",
                                                                          "app_usage", "network_daily",
                                                                          "device_daily", "app_lost_daily")},
                                                     "support_ticket": False, "felt_device": False,
                                                     "network_device": False,  # its newest heartbeat is recent
                                                     "device_change": False, "change": False}
    with db_engine.connect() as conn:  # the recent answer and period are kept
        assert [conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in ("feedback", "app_usage")] == [1, 1]
    for table, column in (("lost_hourly", "hour"), ("active_hourly", "hour"), ("outage_daily", "day"),
                          ("device_day_load", "day"), ("network_daily", "day"), ("device_daily", "day"),
                          ("app_lost_daily", "day")):
        assert per_day(table, column) == days[1:], table
    for table, column in (("lost_rollup", "hour"), ("lost_daily", "day")):  # by label: kept
        assert per_day(table, column) == days, table


def test_purge_deletes_tickets_not_changed_within_the_retention(db_engine):
    from collector.support.store import store_tickets
    from collector.support.tickets import Ticket

    now = time.time()
    tickets = [Ticket("itsm", "old", now - 30 * 86400, now - 20 * 86400),  # last changed before the cutoff
               Ticket("itsm", "reopened", now - 30 * 86400, now - 86400),  # opened before it, changed since
               Ticket("itsm", "new", now - 3600, now - 3600)]
    with db_engine.begin() as conn:
        store_tickets(conn, tickets, now)
    assert purge_expired(db_engine, retention_days=10, now=now)["support_ticket"] == 1
    with db_engine.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT ticket_id FROM support_ticket")).scalars()) == ["new", "reopened"]


def test_daily_sums_of_the_trailing_week_wait_until_their_day_left_it(db_engine, db_url):
    """With a retention of one day, a device's day three days ago goes from the hourly rows, but its daily sum stays
    until the refresher has subtracted it from the week's (else the week's sums would keep it for ever)."""
    now = time.time()
    config = make_config(db_url)
    t = now - 3 * 86400
    Ingestor(db_engine, config, hooks=[marks.on_ingest]).store(
        batch([event("crash", "7zFM.exe", t + 130)], [heartbeat(t + 60 * i, interval_s=60.0, active_s=60.0)
                                                      for i in range(4)]), now=now)
    refresh(db_engine, config, now=now)
    deleted = purge_expired(db_engine, retention_days=1, now=now)
    assert deleted["lost_hourly"] > 0 and deleted["device_daily"] == deleted["app_lost_daily"] == 0
    with db_engine.connect() as conn:
        week = conn.execute(sa.text("SELECT SUM(lost_s) FROM device_week")).scalar_one()
        daily = conn.execute(sa.text("SELECT SUM(lost_s) FROM device_daily")).scalar_one()
    assert week == daily > 0
    assert purge_expired(db_engine, retention_days=1, now=now + 8 * 86400)["device_daily"] == 0  # the week not moved
    refresh(db_engine, config, now=now + 8 * 86400)  # the week moves on and subtracts the day
    assert purge_expired(db_engine, retention_days=1, now=now + 8 * 86400)["device_daily"] == 1
