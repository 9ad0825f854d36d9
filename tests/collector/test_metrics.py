"""/metrics: contract names and labels, values from the database, promtool-clean, no events-table scan."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import sqlalchemy as sa

from collector import metrics
from tests.collector.batches import batch, body, event, heartbeat


@pytest.fixture
def api(api_factory):
    """The app showing groups of any size: these tests check values, tests/collector/test_metrics_labels.py the
    minimum group size."""
    return _every_group_shown(api_factory())


def _every_group_shown(api):
    api.config.sections["report"].min_group_size = 1
    return api


def _fill(api):
    now = time.time()
    api.post(body(batch([event("crash", "firefox"), event("crash", "firefox"), event("hang", "excel")],
                        [heartbeat(now)])))
    api.post(body(batch([event("crash", "firefox")], [heartbeat(now - 600, site="Lyon", department="Sales", os="windows")],
                        device_id="device-0002")))


def test_metrics_values_come_from_the_database(api):
    _fill(api)
    text = api.client.get("/metrics").text
    assert 'hinder_disruptions_total{app="firefox",department="Finance",os="linux",site="Paris",type="crash"} 2.0' in text
    # excel, uncatalogued, is discovered on arrival (collector.aggregates.discover)
    assert 'hinder_disruptions_total{app="excel",department="Finance",os="linux",site="Paris",type="hang"} 1.0' in text
    assert 'hinder_disruptions_total{app="firefox",department="Sales",os="windows",site="Lyon",type="crash"} 1.0' in text
    assert 'hinder_devices{department="Finance",os="linux",site="Paris",state="reporting"} 1.0' in text
    # device-0002 sent its heartbeat just now, so it is reporting even though the heartbeat is old
    assert 'hinder_devices{department="Sales",os="windows",site="Lyon",state="reporting"} 1.0' in text
    assert 'hinder_agent_versions{agent_version="0.1.0",os="linux"} 1.0' in text
    assert 'hinder_collector_info{model_version=' in text
    assert 'hinder_ingest_batches_total{result="accepted"} 2.0' in text


def test_silent_devices(api_factory):
    api = _every_group_shown(api_factory(silent_after_s=1))
    _fill(api)
    with api.engine.begin() as conn:
        conn.execute(sa.text("UPDATE device SET last_seen = last_seen - 5 WHERE id = 'device-0002'"))
    text = api.client.get("/metrics").text
    assert 'hinder_devices{department="Sales",os="windows",site="Lyon",state="silent"} 1.0' in text


def test_scrape_does_not_read_the_events_table(api):
    _fill(api)
    seen = []

    def record(conn, cursor, statement, *rest):
        seen.append(statement)

    sa.event.listen(api.engine, "before_cursor_execute", record)
    try:
        assert api.client.get("/metrics").status_code == 200
    finally:
        sa.event.remove(api.engine, "before_cursor_execute", record)
    statements = " ".join(seen).lower()
    assert "from device" in statements and "from disruption_count" in statements
    assert "from event" not in statements and "from heartbeat" not in statements


def test_every_family_is_documented_and_prefixed(api):
    _fill(api)
    text = api.client.get("/metrics").text
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert names >= {"hinder_devices", "hinder_disruptions_total", "hinder_ingest_batches_total", "hinder_ingest_records_total",
                     "hinder_collector_info", "hinder_agent_versions", "hinder_agent_spool_dropped_records_total"}
    assert all(n.startswith("hinder_") for n in names)
    assert len(metrics.FAMILIES) >= 5


def test_promtool_check_metrics_passes(api):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    _fill(api)
    text = api.client.get("/metrics").text
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@pytest.mark.parametrize("values", [
    [0, 1, 2.5, -0.0, -3.25, 999999.9, 1 / 3],  # Python's repr
    [-0.0, 0.0, 2 / 3],
    [1e6, 1234567.891, 12],  # Go's exponent form from 1e6
    [2.5e17, 0.5, float("inf")],
    [float("nan"), 1.0, float("-inf"), 7],
])
def test_rows_are_written_exactly_like_prometheus_client(values):
    from decimal import Decimal

    from prometheus_client import CollectorRegistry, generate_latest

    odd = ['back\\slash', 'new\nline', 'quo"te', '100%', 'plain', 'é']
    rows = [(odd[i % len(odd)], f"site{i}", v) for i, v in enumerate(values)] + [("plain", "dec", Decimal("2.50"))]
    families = [metrics.counter("hinder_test_things", 'Help with a \\ and a\nnewline and "quotes".', ["zeta", "alpha"], rows),
                metrics.gauge("hinder_test_nothing", "No rows.", ["a"], []),
                metrics.gauge("hinder_test_scalar", "No labels.", [], [(42,)])]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(type("Fixed", (), {"collect": lambda self: families})())
    assert metrics.render(registry) == generate_latest(registry)
    assert b'hinder_test_things_total{alpha="site1",zeta="new\\nline"}' in metrics.render(registry)


def test_a_scrape_pauses_the_garbage_collector_and_restores_it(api):
    import gc

    _fill(api)
    seen = []
    metrics.FAMILIES.append(lambda ctx: seen.append(gc.isenabled()) or [])
    try:
        assert gc.isenabled()
        assert api.client.get("/metrics").status_code == 200
        assert seen == [False] and gc.isenabled()
        gc.disable()  # disabled by someone else: a scrape leaves it so
        try:
            assert api.client.get("/metrics").status_code == 200
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        metrics.FAMILIES.pop()
