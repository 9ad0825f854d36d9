"""/metrics' service-desk families on the report's hand-computed data set (tests/report/dataset.py): contacts
counted when first stored, never going down, and the trailing week's iceberg; promtool-clean."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest

from collector.metrics.families import ScrapeContext, support_contacts, support_week
from collector.models import device_table, support_ticket_table
from collector.support.store import store_tickets
from collector.support.tickets import Ticket
from tests.report import dataset as ds
from tests.report.conftest import store_dataset

WEDNESDAY_NOON = ds.MONDAY + 2.5 * 86400  # the trailing week: Thursday 29 October to Wednesday 4 November


@pytest.fixture
def config(db_url):
    from collector.config import parse_config

    return parse_config(ds.CONFIG, overrides={"db": db_url}, env={})


@pytest.fixture
def filled(db_engine, config):
    store_dataset(db_engine, config, only_week=True, refresh_at=WEDNESDAY_NOON, tickets=True)  # nothing after the scrape's "now"
    return db_engine


class _Families:
    """The service-desk families as a registry collects them, at a chosen scrape time."""

    def __init__(self, engine, config, now):
        self.engine, self.config, self.now = engine, config, now

    def collect(self):
        with self.engine.connect() as conn:
            ctx = ScrapeContext(conn, self.config, self.now)
            return [m for family in (support_contacts, support_week) for m in family(ctx)]


def _scrape(engine, config, now=WEDNESDAY_NOON) -> tuple[dict, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(engine, config, now))
    values = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_created"):
                values.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return values, generate_latest(registry).decode()


def _by(samples: dict, *labels: str) -> dict:
    return {tuple(dict(k)[name] for name in labels): v for k, v in samples.items() if v}


def test_contacts_by_channel_and_folded_labels(filled, config):
    m, _ = _scrape(filled, config)
    # Paris/Finance (3 devices) and Paris/Sales (2) fold to (Paris, other); Marseille has no device
    assert _by(m["hinder_support_contacts_total"], "channel", "site", "department") == {
        ("phone", "Paris", "other"): 2, ("chat", "Lyon", "Sales"): 1, ("portal", "Paris", "other"): 1,
        ("email", "Lyon", "Sales"): 1, ("email", "Paris", "other"): 1, ("walk_in", "other", "other"): 1}
    assert _by(m["hinder_support_contact_seconds_total"], "channel", "site", "department") == {
        ("phone", "Paris", "other"): 1200.0, ("chat", "Lyon", "Sales"): 720.0, ("portal", "Paris", "other"): 300.0,
        ("email", "Lyon", "Sales"): 300.0, ("email", "Paris", "other"): 300.0, ("walk_in", "other", "other"): 900.0}


def test_the_trailing_week_iceberg(filled, config):
    m, _ = _scrape(filled, config)
    assert _by(m["hinder_week_support_tickets"], "site", "department", "after_disruption") == {
        ("Paris", "other", "yes"): 1, ("Paris", "other", "no"): 2,  # T1 after P1's hang; T3 and T7 after nothing
        ("Lyon", "Sales", "yes"): 1, ("Lyon", "Sales", "unknown"): 1,  # T2 after L1's outage; T4 not traced
        ("other", "other", "unknown"): 1}  # T5, Marseille
    assert _by(m["hinder_week_lost_without_ticket_seconds"], "type", "site", "department") == pytest.approx({
        ("connectivity_loss", "Paris", "other"): 1200.0, ("crash", "Paris", "other"): 180.0,
        ("connectivity_loss", "Lyon", "Sales"): 2400.0, ("slow_app", "other", "other"): 60.0})
    # three weeks later, before the refresher moved the week tables on: no ticket, so all their lost time counts
    later, _ = _scrape(filled, config, now=ds.MONDAY + 20 * 86400)
    assert "hinder_week_support_tickets" not in later
    assert sum(later["hinder_week_lost_without_ticket_seconds"].values()) == pytest.approx(ds.EXPECTED["lost_seconds"])


def test_counters_never_go_down_when_tickets_change(filled, config):
    """A ticket read again with another channel, or now naming a device of another site, moves no count."""
    before, _ = _scrape(filled, config)
    with filled.begin() as conn:
        p4 = conn.execute(sa.select(device_table.c.host_key).where(device_table.c.id == "device-P4")).scalar_one()
        moved = [Ticket(**{**t.__dict__, "updated_at": t.updated_at + 1,
                           **({"host_key": p4} if t.ticket_id == "T4" else {"channel": "chat"})})
                 for t in ds.tickets() if t.ticket_id in ("T1", "T6", "T4")]
        assert store_tickets(conn, moved, now=ds.NEXT_MONDAY + 86400).updated == 3
        assert conn.execute(sa.select(support_ticket_table.c.site).where(support_ticket_table.c.ticket_id == "T4")
                            ).scalar_one() == "Paris"
    after, _ = _scrape(filled, config)
    for name in ("hinder_support_contacts_total", "hinder_support_contact_seconds_total"):
        assert after[name] == before[name]


def test_promtool_accepts_the_families(filled, config):
    _, text = _scrape(filled, config)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert check.returncode == 0 and not check.stdout and not check.stderr, (check.stdout + check.stderr).decode()


def test_the_migration_counts_the_tickets_stored_before_it(db_url):
    """Upgrading a database that already holds tickets (migration 9 without 10) counts them once."""
    from collector import migrations
    from collector.db import make_engine

    engine = make_engine(db_url)
    migrations.upgrade(engine, target=9)
    with engine.begin() as conn:
        conn.execute(support_ticket_table.insert(), [
            {"source": "import", "ticket_id": f"T{i}", "opened_at": ds.MONDAY, "updated_at": ds.MONDAY,
             "channel": channel, "priority": "", "category": "", "work_stopping": False, "site": "Lyon",
             "department": "Sales", "stored_at": ds.MONDAY, "changed_at": ds.MONDAY}
            for i, channel in enumerate(["phone", "phone", "chat"])])
    migrations.upgrade(engine)
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT channel, site, department, contacts FROM support_count"))) == [
            ("chat", "Lyon", "Sales", 1), ("phone", "Lyon", "Sales", 2)]
    engine.dispose()
