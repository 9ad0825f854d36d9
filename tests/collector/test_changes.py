"""Changes (collector.aggregates.changes): recorded at ingest, compared before and after, bounded, on /metrics.

On SQLite and PostgreSQL: a fleet whose SAP GUI 7.70 crashes twice as often as 7.60 while Teams 1.1 changes
nothing; OS builds dated by the heartbeats; a hostile device inventing versions.
"""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from collector.aggregates import changes, marks
from collector.aggregates.refresh import refresh
from collector.ingest import Ingestor
from collector.metrics import build_registry
from collector.metrics.exposition import render
from tests.collector.batches import batch, event
from tests.collector.changes_fleet import DAY, HOUR, Rollout, device_id, fleet_batches
from tests.conftest import assert_promtool_clean

NOW = time.time()
INSTALL = (NOW // DAY - 9) * DAY + 8 * HOUR  # 08:00 UTC nine days ago: a week of data on each side
SAP = Rollout("sap-gui", "7.60", "7.70", 0.1, 0.2)
TEAMS = Rollout("teams", "1.0", "1.1", 0.1, 0.1)


def _config(db_url, discovered_apps=20, **changes_table):
    from collector.config import parse_config
    from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN

    return parse_config({"apps": ["sap-gui", "teams"], "changes": changes_table},
                        overrides={"db": db_url, "agent_tokens": [AGENT_TOKEN], "admin_token": ADMIN_TOKEN,
                                   "discovered_apps": discovered_apps}, env={})


def _ingest(engine, config, batches, now=NOW):
    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
    for b in batches:
        ingestor.store(b, now=now)
    return ingestor


def _rows(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fleet(request, tmp_path_factory):
    """Ten devices, SAP GUI doubling its crashes and Teams steady, refreshed and scored (once per module and
    backend: the tests only read it)."""
    from collector.db import make_engine
    from collector.migrations import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('changes') / 'hinder.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        name = "t_changes_" + uuid.uuid4().hex[:8]
        server.admin(f"CREATE DATABASE {name}")
        url = server.url(name)
    engine = make_engine(url)
    upgrade(engine)
    config = _config(url)
    _ingest(engine, config, fleet_batches(10, INSTALL, [SAP, TEAMS], until=NOW - HOUR))
    refresh(engine, config, now=NOW)
    assert changes.score(engine, config, NOW) == 2
    yield engine, config
    engine.dispose()
    if request.param != "sqlite":
        server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_doubled_crash_rate_is_worse_and_a_steady_one_no_clear_change(fleet):
    engine, config = fleet
    stored = {r[0]: r[1:] for r in _rows(engine, "SELECT subject, value, adopters, devices, verdict, p_value, "
                                                 "before_disruptions, after_disruptions FROM change")}
    assert set(stored) == {"sap-gui", "teams"}
    value, adopters, devices, verdict, p, before, after = stored["sap-gui"]
    assert (value, adopters, devices, verdict) == ("7.70", 10, 10, "worse") and p < 1e-3
    assert after / before == pytest.approx(2.0, rel=0.2)
    value, adopters, devices, verdict, p, *_ = stored["teams"]
    assert (value, adopters, devices, verdict) == ("1.1", 10, 10, "unclear") and p > 0.3
    # the baseline versions are no change: every device had them from its first record
    assert _rows(engine, "SELECT COUNT(*) FROM device_change WHERE previous IS NULL")[0][0] == 20
    first = _rows(engine, "SELECT first_seen FROM change WHERE subject = 'sap-gui'")[0][0]
    assert INSTALL <= first < INSTALL + 11 * HOUR  # the first crash on 7.70 (its move is dated by a failure)


def test_changes_are_scored_again_while_they_move_and_not_once_settled(fleet):
    engine, config = fleet
    assert changes.score(engine, config, NOW) == 2  # first seen nine days ago: stragglers and late data still move
    settled = INSTALL + changes.SETTLED_WINDOWS * changes.settings_of(config).window_days * DAY + DAY
    assert changes.score(engine, config, settled) == 0  # scored, and four windows old: its figures stay


def test_metrics_show_the_changes_and_their_ratios(fleet):
    engine, config = fleet
    text = render(build_registry(engine, config)[0]).decode()
    sample = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("hinder_change_"))
    key = '{kind="app_version",subject="sap-gui",version="7.70"}'
    assert float(sample["hinder_change_devices" + key]) == 10
    assert float(sample["hinder_change_significant" + key]) == 1
    assert float(sample["hinder_change_disruption_rate_ratio" + key]) == pytest.approx(2.0, rel=0.2)
    assert float(sample["hinder_change_lost_time_ratio" + key]) == pytest.approx(2.0, rel=0.2)  # 3 min per crash
    assert INSTALL <= float(sample["hinder_change_first_seen_timestamp_seconds" + key]) < INSTALL + DAY
    teams = '{kind="app_version",subject="teams",version="1.1"}'
    assert float(sample["hinder_change_significant" + teams]) == 0
    assert float(sample["hinder_change_disruption_rate_ratio" + teams]) == pytest.approx(1.0, abs=0.1)
    assert_promtool_clean(text)  # names, types and help by Prometheus's own linter


def test_the_report_period_reads_the_figures_as_of_its_end(fleet):
    engine, config = fleet
    with engine.connect() as conn:
        named = changes.in_period(conn, config, INSTALL - DAY, INSTALL + DAY)
        assert {(name, e.verdict) for name, e in named} == {("sap-gui", "early"), ("teams", "early")}  # hours after
        assert changes.in_period(conn, config, INSTALL + 9 * DAY, NOW) == []  # first seen before the window
        later = dict(changes.in_period(conn, config, INSTALL + 2 * DAY, NOW))
    assert later["sap-gui"].verdict == "worse"


def test_an_uncatalogued_application_has_its_change_under_its_discovered_name_and_none_when_folded(db_engine, db_url):
    batches = fleet_batches(6, INSTALL, [Rollout("mystery", "1", "2", 0.2, 0.4)], days_before=1, days_after=1)
    config = _config(db_url, discovered_apps=0)  # nothing discovered: its versions would mix under other
    _ingest(db_engine, config, batches)
    assert _rows(db_engine, "SELECT subject, adopters FROM change") == [("mystery", 6)]
    assert b"mystery" not in render(build_registry(db_engine, config)[0])
    config = _config(db_url)
    _ingest(db_engine, config, fleet_batches(6, INSTALL + DAY, [Rollout("mystery", "1", "2", 0.2, 0.4)],
                                             days_before=0, days_after=1))  # discovered on arrival now
    assert b'subject="mystery",version="2"' in render(build_registry(db_engine, config)[0])


def test_too_few_devices_make_no_change_and_too_little_time_no_verdict(db_engine, db_url):
    config = _config(db_url)
    _ingest(db_engine, config, fleet_batches(4, INSTALL, [SAP], days_before=1, days_after=1))  # min_group_size 5
    assert _rows(db_engine, "SELECT COUNT(*) FROM change")[0][0] == 0
    late = NOW // DAY * DAY - DAY + 8 * HOUR  # yesterday: a few hours after the move
    _ingest(db_engine, config, fleet_batches(5, late, [SAP], days_before=1, days_after=2, until=NOW - HOUR))
    refresh(db_engine, config, now=NOW)
    changes.score(db_engine, config, late + 8 * HOUR)  # the first working day after the move
    assert _rows(db_engine, "SELECT adopters, verdict FROM change") == [(5, "early")]


def test_os_builds_are_dated_by_the_first_heartbeat_and_baselines_are_no_change(db_engine, db_url):
    config = _config(db_url)
    _ingest(db_engine, config, fleet_batches(5, INSTALL, [], builds=("22631.4460", "22631.4602"), days_before=1,
                                             days_after=1))
    adopted = dict(_rows(db_engine, "SELECT device_id, adopted_at FROM device_change WHERE kind = 'os_build' "
                                    "AND previous = '22631.4460'"))
    assert adopted == {device_id(i): INSTALL + i * HOUR + 3600 for i in range(5)}  # the end of the first heartbeat
    assert _rows(db_engine, "SELECT kind, subject, value, adopters, first_seen FROM change WHERE kind = 'os_build'") \
        == [("os_build", "os", "22631.4602", 5, INSTALL + 3600)]


def test_recording_is_idempotent_and_late_records_move_the_adoption_earlier(db_engine, db_url):
    config = _config(db_url)
    dev = "device-late-0001"
    t = NOW - 3 * DAY
    ingestor = _ingest(db_engine, config, [batch([event("crash", "teams", t, details={"app_version": "1.0"})],
                                                 device_id=dev)])
    second = batch([event("crash", "teams", t + DAY, details={"app_version": "1.1"})], device_id=dev)
    ingestor.store(second, now=NOW)
    ingestor.store(second, now=NOW)  # a retry: nothing new
    ingestor.store(batch([event("crash", "teams", t + 3600, details={"app_version": "1.1"})], device_id=dev), now=NOW)
    rows = _rows(db_engine, "SELECT value, previous, adopted_at, adopted_hour FROM device_change ORDER BY value")
    assert [r[:2] for r in rows] == [("1.0", None), ("1.1", "1.0")]
    assert [r[2:] for r in rows] == [pytest.approx((t, t // HOUR * HOUR)),
                                     pytest.approx((t + 3600, (t + 3600) // HOUR * HOUR))]


def test_odd_versions_are_text_of_64_characters_or_nothing(db_engine, db_url):
    config = _config(db_url)
    t = NOW - DAY
    odd = [1.5, True, ["7.70"], None, "", "unknown", "x" * 200]  # as the contract lets them through
    _ingest(db_engine, config, [batch([event("crash", "teams", t + i, details={"app_version": v})
                                       for i, v in enumerate(odd)], device_id="device-odd-0001")])
    assert sorted(v for (v,) in _rows(db_engine, "SELECT value FROM device_change")) == ["1.5", "x" * 64]


def test_a_hostile_device_inventing_versions_stays_bounded(db_engine, db_url):
    config = _config(db_url, exported=3)
    dev = "device-hostile-01"
    start = NOW - 2 * DAY
    versions = [event("crash", "teams", start + i, details={"app_version": f"9.{i}"}) for i in range(600)]
    apps = [event("crash", f"app-{i}", start + DAY + i, details={"app_version": "1"}) for i in range(600)]
    began = time.perf_counter()
    _ingest(db_engine, config, [batch(versions, device_id=dev), batch(apps, device_id=dev)])
    elapsed = time.perf_counter() - began
    counts = dict(_rows(db_engine, "SELECT subject = 'teams', COUNT(*) FROM device_change GROUP BY subject = 'teams'"))
    assert counts[True] == changes.MAX_VALUES_PER_SUBJECT
    assert sum(counts.values()) == changes.MAX_VALUES_PER_DEVICE
    assert _rows(db_engine, "SELECT COUNT(*) FROM change")[0][0] == 0  # one device is no fleet
    assert elapsed < 20
    # a fleet token forging devices: five devices each per version make changes; /metrics still shows three
    forged = [batch([event("crash", "teams", start, details={"app_version": "1.0"}),
                     event("crash", "teams", start + 10 + v, details={"app_version": f"2.{v}"})],
                    device_id=f"device-forged-{v}-{d}") for v in range(8) for d in range(5)]
    _ingest(db_engine, config, forged)
    assert _rows(db_engine, "SELECT COUNT(*) FROM change")[0][0] == 8
    changes.score(db_engine, config, NOW)
    text = render(build_registry(db_engine, config)[0]).decode()
    assert text.count("hinder_change_devices{") == 3
    assert 'version="2.7"' in text and 'version="2.4"' not in text  # the most recently first seen


def test_retention_forgets_values_not_seen_since_and_old_changes(db_engine, db_url):
    from collector.retention import purge_expired

    config = _config(db_url)
    old = NOW - 30 * DAY
    _ingest(db_engine, config, [batch([event("crash", "teams", old, details={"app_version": "1.0"}),
                                       event("crash", "teams", old + 60, details={"app_version": "1.1"})],
                                      device_id=f"device-old-{d}") for d in range(5)]
            + [batch([event("crash", "teams", NOW - DAY, details={"app_version": "1.1"})], device_id="device-old-0")])
    assert _rows(db_engine, "SELECT COUNT(*) FROM change")[0][0] == 1
    deleted = purge_expired(db_engine, retention_days=10, now=NOW)
    assert (deleted["device_change"], deleted["change"]) == (9, 1)  # 1.1 on device-old-0 was seen yesterday
    assert _rows(db_engine, "SELECT device_id, value FROM device_change") == [("device-old-0", "1.1")]
