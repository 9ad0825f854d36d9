"""Migrations: the migrated schema is the models' schema, upgrades keep data, the runner is idempotent."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from collector import migrations
from collector.db import make_engine
from collector.models import metadata

TEST_PACKAGE = "tests.collector.migrations_fixture"


def _diff(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return [d for d in compare_metadata(ctx, metadata)
                if not (d[0] == "remove_table" and d[1].name == migrations.VERSION_TABLE)]


def test_migrated_schema_equals_the_models(db_engine):
    assert _diff(db_engine) == []


def test_runner_is_idempotent_and_records_the_version(db_engine):
    assert migrations.upgrade(db_engine) == []
    with db_engine.connect() as conn:
        assert migrations.current_version(conn) == len(migrations.available())


def test_upgrade_from_version_1_to_head_keeps_data(db_url):
    engine = make_engine(db_url)
    assert migrations.upgrade(engine, target=1) == [1]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO heartbeat (id, device_id, time, interval_s, active_s) "
                             "VALUES ('h1', 'dev-00001', 1.5, 60, 30)"))
    migrations.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT device_id, time, active_s FROM heartbeat")).all() == [("dev-00001", 1.5, 30)]
    assert _diff(engine) == []


def test_an_in_place_alteration_keeps_rows(db_url):
    """A second migration that adds and backfills a column upgrades a populated database in place."""
    engine = make_engine(db_url)
    assert migrations.upgrade(engine, package=TEST_PACKAGE, target=1) == [1]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO device (id, first_seen, os, os_version, agent_version, site, department, "
                             "spool_dropped_total, rejected_total, sensor_errors_total, last_details) VALUES "
                             "('dev-00001', 10, 'linux', '6.1', '0.1.0', 'Paris', 'Finance', 0, 0, 0, '{}')"))
    assert migrations.upgrade(engine, package=TEST_PACKAGE) == [2]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, site, region FROM device")).all() == [("dev-00001", "Paris", "EU")]
        assert migrations.current_version(conn) == 2


def test_a_failing_migration_leaves_the_database_as_it_was(db_url, monkeypatch):
    engine = make_engine(db_url)
    migrations.upgrade(engine, package=TEST_PACKAGE, target=1)
    module = dict(migrations.available(TEST_PACKAGE))[2]

    def broken(op):
        op.add_column("device", sa.Column("region", sa.String(8)))
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "upgrade", broken)
    with pytest.raises(RuntimeError, match="boom"):
        migrations.upgrade(engine, package=TEST_PACKAGE)
    with engine.connect() as conn:
        assert migrations.current_version(conn) == 1
        assert "region" not in {c["name"] for c in sa.inspect(conn).get_columns("device")}


def test_a_newer_database_is_refused(db_url):
    engine = make_engine(db_url)
    migrations.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version = version + 1"))
    with pytest.raises(RuntimeError, match="newer than this collector"):
        migrations.upgrade(engine)


def test_migration_4_counts_stored_events_as_ingest_does(db_url):
    """The per-day outage and version counts that migration 4 fills from stored events equal ingest's own."""
    from collector.aggregates import marks
    from collector.aggregates.marks import count_days_of_stored_events
    from collector.ingest import Ingestor
    from contract.records import format_time
    from tests.collector.batches import batch, event
    from tests.collector.conftest import make_config

    engine = make_engine(db_url)
    migrations.upgrade(engine)
    now = 1_800_000_000.0
    week_end = marks.week_end(now) - 7 * 86400  # the last week boundary before now
    ingestor = Ingestor(engine, make_config(db_url), hooks=[marks.on_ingest])
    for i, dev in enumerate(("device-m4-0001", "device-m4-0002")):
        ingestor.store(batch([
            event("connectivity_loss", "network", week_end - 100 * (i + 1), duration_s=300, details={"cause": "dns_failure"}),
            event("connectivity_loss", "network", now - 5000, duration_s=60, details={"cause": "solar_flare"}),
            event("crash", "firefox", now - 4000, details={"app_version": "128.0"}),
            event("hang", "firefox", now - 3000, duration_s=9, details={"app_version": 128}),
            event("crash", "firefox", now - 2000),
        ], device_id=dev, sent_at=format_time(now)), now=now)
    tables = ("outage_daily", "version_daily")

    def counts():
        with engine.connect() as conn:
            return {t: sorted(conn.execute(sa.text(f"SELECT * FROM {t}")).all()) for t in tables}

    at_ingest = counts()
    day = int(now // 86400 * 86400)
    before_end = int((week_end - 200) // 86400 * 86400)
    assert at_ingest["outage_daily"] == sorted([  # offline seconds end with the week; unknown causes are "other"
        (before_end, "device-m4-0001", "dns_failure", 1, 100.0), (before_end, "device-m4-0002", "dns_failure", 1, 200.0),
        (day, "device-m4-0001", "other", 1, 60.0), (day, "device-m4-0002", "other", 1, 60.0)])
    assert at_ingest["version_daily"] == [(day, "firefox", "128", "hang", 2), (day, "firefox", "128.0", "crash", 2)]
    with engine.begin() as conn:
        for t in tables:
            conn.execute(sa.text(f"DELETE FROM {t}"))
        count_days_of_stored_events(conn)
    assert counts() == at_ingest


def test_migration_19_fills_the_impacted_seconds_of_stored_hours(db_url):
    """Hours whose stored lost time reaches the default threshold (60 s, all causes) read as impacted, with their
    daily and trailing-week sums; application sums start at 0 (the catalogue is not known to a migration)."""
    engine = make_engine(db_url)
    migrations.upgrade(engine, target=18)
    h = 1_800_000_000 // 86400 * 86400 + 9 * 3600
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO lost_hourly (device_id, hour, type, app, site, department, os, lost_s, disruptions) VALUES "
            "('d1', :h, 'hang', 'erp', 'Paris', 'Finance', 'linux', 40, 1), "
            "('d1', :h, 'connectivity_loss', 'net', 'Paris', 'Finance', 'linux', 30, 1), "
            "('d1', :h2, 'hang', 'erp', 'Paris', 'Finance', 'linux', 59, 1)"), {"h": h, "h2": h + 3600})
        conn.execute(sa.text(
            "INSERT INTO active_hourly (device_id, hour, site, department, os, active_s) VALUES "
            "('d1', :h, 'Paris', 'Finance', 'linux', 3600), ('d1', :h2, 'Paris', 'Finance', 'linux', 1800), "
            "('d2', :h, 'Lyon', 'Sales', 'linux', 600)"), {"h": h, "h2": h + 3600})
        conn.execute(sa.text("INSERT INTO active_daily (day, site, department, active_s) VALUES "
                             "(:d, 'Paris', 'Finance', 5400), (:d, 'Lyon', 'Sales', 600)"), {"d": h - 9 * 3600})
        conn.execute(sa.text("INSERT INTO active_week (site, department, active_s) VALUES "
                             "('Paris', 'Finance', 5400), ('Lyon', 'Sales', 600)"))
        conn.execute(sa.text("INSERT INTO app_active_daily (day, app, active_s) VALUES (:d, 'erp', 5400)"),
                     {"d": h - 9 * 3600})
    assert migrations.upgrade(engine, target=19) == [19]
    with engine.connect() as conn:
        def q(sql):
            return sorted(tuple(r) for r in conn.execute(sa.text(sql)))

        assert q("SELECT device_id, hour, impacted_s FROM active_hourly") == [
            ("d1", h, 3600.0), ("d1", h + 3600, 0.0), ("d2", h, 0.0)]  # 70 s lost, then 59 s, then nothing
        assert q("SELECT site, impacted_s FROM active_daily") == [("Lyon", 0.0), ("Paris", 3600.0)]
        assert q("SELECT site, impacted_s FROM active_week") == [("Lyon", 0.0), ("Paris", 3600.0)]
        assert q("SELECT app, active_s, impacted_s FROM app_active_daily") == [("erp", 5400.0, 0.0)]
        assert q("SELECT metric, site, value, exported FROM impact_total") == [("impacted", "Paris", 3600.0, 3600.0)]
    migrations.upgrade(engine)
    assert _diff(engine) == []
