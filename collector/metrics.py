"""Prometheus metrics of the collector (the contract is docs/metrics in the project notes).

Two kinds:
- figures from the shared database, computed at scrape time from small tables
  only (devices, counters kept up to date at ingest), never by scanning
  events, so every replica exports the same numbers and a scrape stays fast
  as history grows. Each metric family is one function in :data:`FAMILIES`
  taking a :class:`ScrapeContext`; extensions append theirs.
- per-process ingest counters (:class:`IngestCounters`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection, Engine

from collector import VERSION
from collector.config import CollectorConfig
from collector.models import device_table, disruption_count_table

log = logging.getLogger("hinder.collector")

# Labels of hinder_collector_info; the impact model sets "model_version".
INFO_LABELS: dict[str, str] = {"version": VERSION, "model_version": "none"}

BATCH_RESULTS = ("accepted", "invalid", "unauthorized", "too_large", "overloaded", "error")
RECORD_KINDS = ("event", "heartbeat")
RECORD_RESULTS = ("stored", "duplicate")


@dataclass
class ScrapeContext:
    """What a metric family function gets: an open read connection, the config, the scrape time."""

    conn: Connection
    config: CollectorConfig
    now: float


Family = Callable[[ScrapeContext], Iterable[Metric]]


def devices(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_devices{state,site,department,os}: devices reporting or silent (no heartbeat for silent_after_s)."""
    d = device_table.c
    reporting = sa.case((d.last_seen >= ctx.now - ctx.config.collector.silent_after_s, 1), else_=0)
    rows = ctx.conn.execute(
        sa.select(d.site, d.department, d.os, sa.func.sum(reporting), sa.func.count())
        .group_by(d.site, d.department, d.os)
    )
    fam = GaugeMetricFamily("hinder_devices", "Devices by state: reporting (heartbeat within silent_after_s) or silent.",
                            labels=["state", "site", "department", "os"])
    for site, department, os_name, n_reporting, n_all in rows:
        fam.add_metric(["reporting", site, department, os_name], int(n_reporting or 0))
        fam.add_metric(["silent", site, department, os_name], int(n_all - (n_reporting or 0)))
    yield fam


def agent_versions(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_agent_versions{agent_version,os}: devices per agent version."""
    d = device_table.c
    fam = GaugeMetricFamily("hinder_agent_versions", "Devices per agent version.", labels=["agent_version", "os"])
    for version, os_name, n in ctx.conn.execute(
        sa.select(d.agent_version, d.os, sa.func.count()).group_by(d.agent_version, d.os)
    ):
        fam.add_metric([version, os_name], n)
    yield fam


def spool_dropped(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_agent_spool_dropped_records_total{site}: records agents dropped from full spools (latest totals)."""
    d = device_table.c
    fam = CounterMetricFamily("hinder_agent_spool_dropped_records",
                              "Records the agents dropped because their spool was full, from their latest heartbeats.",
                              labels=["site"])
    for site, n in ctx.conn.execute(sa.select(d.site, sa.func.sum(d.spool_dropped_total)).group_by(d.site)):
        fam.add_metric([site], int(n or 0))
    yield fam


def disruptions(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_disruptions_total{type,app,site,department,os}: disruptions stored, counted at ingest."""
    c = disruption_count_table.c
    fam = CounterMetricFamily("hinder_disruptions", "Disruptions received, by type, application and device labels.",
                              labels=["type", "app", "site", "department", "os"])
    for row in ctx.conn.execute(sa.select(c.type, c.app, c.site, c.department, c.os, c.count)):
        fam.add_metric(list(row[:5]), row[5])
    yield fam


def collector_info(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_collector_info{version,model_version} = 1."""
    fam = GaugeMetricFamily("hinder_collector_info", "The collector's version and impact model version.",
                            labels=list(INFO_LABELS))
    fam.add_metric(list(INFO_LABELS.values()), 1)
    yield fam


FAMILIES: list[Family] = [devices, agent_versions, spool_dropped, disruptions, collector_info]


class DatabaseCollector:
    """A prometheus_client collector running every family in one read transaction at scrape time."""

    def __init__(self, engine: Engine, config: CollectorConfig):
        self.engine = engine
        self.config = config

    def collect(self) -> Iterable[Metric]:
        with self.engine.connect() as conn:
            ctx = ScrapeContext(conn, self.config, time.time())
            metrics = [m for family in FAMILIES for m in family(ctx)]
        return metrics


class IngestCounters:
    """Per-process ingest counters: hinder_ingest_batches_total and hinder_ingest_records_total."""

    def __init__(self, registry: CollectorRegistry):
        self.batches = Counter("hinder_ingest_batches", "Batches received by this collector process, by result.",
                               ["result"], registry=registry)
        self.records = Counter("hinder_ingest_records", "Records in accepted batches, by kind and result.",
                               ["kind", "result"], registry=registry)
        for result in BATCH_RESULTS:
            self.batches.labels(result)
        for kind in RECORD_KINDS:
            for result in RECORD_RESULTS:
                self.records.labels(kind, result)


def build_registry(engine: Engine, config: CollectorConfig) -> tuple[CollectorRegistry, IngestCounters]:
    """A registry with the database figures and fresh per-process ingest counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, config))
    return registry, IngestCounters(registry)
