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
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from sqlalchemy.engine import Connection, Engine

from collector import VERSION, aggregates, impact
from collector.config import CollectorConfig
from collector.models import (
    active_week_table, app_active_week_table, app_version_count_table, device_table, disruption_count_table,
    impact_total_table, lost_week_table, outage_count_table,
)

log = logging.getLogger("hinder.collector")

# Labels of hinder_collector_info; the impact model sets "model_version".
INFO_LABELS: dict[str, str] = {"version": VERSION, "model_version": impact.MODEL_VERSION}

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
    labels = {**INFO_LABELS, "model_version": aggregates.model_config(ctx.config).version}
    fam.add_metric(list(labels.values()), 1)
    yield fam


# ---------------------------------------------------- impact model families
# All read small tables kept by collector.aggregates (totals per label set,
# label sums of the trailing week), never the per-device rows.

def lost_and_active_totals(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_lost_seconds_total{type,app,site,department} and hinder_active_seconds_total{site,department}."""
    t = impact_total_table.c
    lost = CounterMetricFamily("hinder_lost_seconds", "Working time lost to disruptions, by cause, after merging "
                               "overlaps (impact model); counted when the data arrives.",
                               labels=["type", "app", "site", "department"])
    active = CounterMetricFamily("hinder_active_seconds", "Employee-active seconds reported by heartbeats.",
                                 labels=["site", "department"])
    for metric, type_, app, site, department, exported in ctx.conn.execute(
            sa.select(t.metric, t.type, t.app, t.site, t.department, t.exported)):
        if metric == "lost":
            lost.add_metric([type_, app, site, department], exported)
        else:
            active.add_metric([site, department], exported)
    yield lost
    yield active


def connectivity_outages(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_connectivity_outages_total and hinder_connectivity_outage_seconds_total{cause,site,department}."""
    c = outage_count_table.c
    count = CounterMetricFamily("hinder_connectivity_outages", "Connectivity outages received, by cause.",
                                labels=["cause", "site", "department"])
    seconds = CounterMetricFamily("hinder_connectivity_outage_seconds",
                                  "Wall-clock duration of the connectivity outages received, by cause.",
                                  labels=["cause", "site", "department"])
    for cause, site, department, outages, secs in ctx.conn.execute(
            sa.select(c.cause, c.site, c.department, c.outages, c.seconds)):
        count.add_metric([cause, site, department], outages)
        seconds.add_metric([cause, site, department], secs)
    yield count
    yield seconds


def app_version_disruptions(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_app_version_disruptions_total{app,version,type}: catalogued applications only."""
    c = app_version_count_table.c
    fam = CounterMetricFamily("hinder_app_version_disruptions", "Disruptions of catalogued applications, by version.",
                              labels=["app", "version", "type"])
    for app, version, type_, n in ctx.conn.execute(sa.select(c.app, c.version, c.type, c.count)):
        fam.add_metric([app, version, type_], n)
    yield fam


def week_figures(ctx: ScrapeContext) -> Iterable[Metric]:
    """Trailing-week gauges by event time (the 7 UTC days ending today): lost and active seconds, scores.

    Read from the ``*_week`` tables the refresher keeps (one row per label
    set); right after midnight UTC they may still hold the day that just left
    the window until the next refresh (a few seconds).
    """
    lost = GaugeMetricFamily("hinder_week_lost_seconds", "Working time lost in the 7 UTC days ending today, "
                             "by event time.", labels=["type", "app", "site", "department"])
    lost_by_group: dict[tuple[str, str], float] = {}
    lost_by_app: dict[str, float] = {}
    lw, aw, aaw = lost_week_table.c, active_week_table.c, app_active_week_table.c
    for type_, app, site, department, secs in ctx.conn.execute(
            sa.select(lw.type, lw.app, lw.site, lw.department, lw.lost_s)):
        secs = max(0.0, secs)  # rounding residue of applied differences
        lost.add_metric([type_, app, site, department], secs)
        lost_by_group[(site, department)] = lost_by_group.get((site, department), 0.0) + secs
        lost_by_app[app] = lost_by_app.get(app, 0.0) + secs
    active = GaugeMetricFamily("hinder_week_active_seconds", "Employee-active seconds in the 7 UTC days ending today.",
                               labels=["site", "department"])
    score = GaugeMetricFamily("hinder_experience_score_ratio",
                              "1 - lost / active time over the 7 UTC days ending today (impact model).",
                              labels=["site", "department"])
    for site, department, secs in ctx.conn.execute(sa.select(aw.site, aw.department, aw.active_s)):
        active.add_metric([site, department], max(0.0, secs))
        value = impact.score(lost_by_group.get((site, department), 0.0), secs)
        if value is not None:
            score.add_metric([site, department], value)
    app_score = GaugeMetricFamily("hinder_app_experience_score_ratio",
                                  "1 - time lost to the app / active time of the devices on the days they "
                                  "reported the app, 7 UTC days ending today.", labels=["app"])
    for app, secs in ctx.conn.execute(sa.select(aaw.app, aaw.active_s)):
        value = impact.score(lost_by_app.get(app, 0.0), secs)
        if value is not None:
            app_score.add_metric([app], value)
    yield from (lost, active, score, app_score)


def devices_disrupted(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_devices_disrupted{type,site}: devices with a disruption going on or started in the last 15 minutes."""
    fam = GaugeMetricFamily("hinder_devices_disrupted",
                            "Devices with a disruption going on or started in the last 15 minutes.",
                            labels=["type", "site"])
    for type_, site, n in aggregates.devices_disrupted(ctx.conn, ctx.now):
        fam.add_metric([type_, site], n)
    yield fam


def hourly_cost(ctx: ScrapeContext) -> Iterable[Metric]:
    """hinder_hourly_cost{department,currency}: the configured cost of one hour of work."""
    cfg = aggregates.model_config(ctx.config)
    fam = GaugeMetricFamily("hinder_hourly_cost", "Configured cost of one hour of work, per department "
                            "(multiply lost hours by it for the cost).", labels=["department", "currency"])
    departments = set(ctx.conn.execute(sa.select(device_table.c.department).distinct()).scalars())
    for department in sorted(departments | set(cfg.department_hourly_cost)):
        fam.add_metric([department, cfg.currency], cfg.hourly_cost_for(department))
    yield fam


FAMILIES: list[Family] = [devices, agent_versions, spool_dropped, disruptions, collector_info,
                          lost_and_active_totals, connectivity_outages, app_version_disruptions, week_figures,
                          devices_disrupted, hourly_cost]


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


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition (format 0.0.4) of a registry, like ``generate_latest`` but several times faster.

    The database families have tens of thousands of samples on a large fleet
    (every type x app x site x department); prometheus_client's generic writer
    spends ~50 us per sample validating and escaping label names, which alone
    would take a scrape past its budget. Families with only plain samples
    (no ``_created``, exemplars or timestamps) are written here, label values
    escaped once per distinct value; any other family goes through
    ``generate_latest`` unchanged.
    """
    out: list[str] = []
    escaped: dict[str, str] = {}

    def esc(value: str) -> str:
        e = escaped.get(value)
        if e is None:
            e = escaped[value] = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return e

    for metric in registry.collect():
        plain = all(s.timestamp is None and s.exemplar is None and s.name in (metric.name, metric.name + "_total")
                    for s in metric.samples)
        if not plain:
            out.append(generate_latest(_OneMetric(metric)).decode())
            continue
        name = metric.name + ("_total" if metric.type == "counter" else "")
        doc = metric.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {metric.type if metric.type != 'unknown' else 'untyped'}\n")
        for s in metric.samples:
            labels = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(s.labels.items()))
            out.append(f"{s.name}{{{labels}}} {floatToGoString(s.value)}\n" if labels else f"{s.name} {floatToGoString(s.value)}\n")
    return "".join(out).encode()


class _OneMetric:
    def __init__(self, metric: Metric):
        self.metric = metric

    def collect(self) -> list[Metric]:
        return [self.metric]


def build_registry(engine: Engine, config: CollectorConfig) -> tuple[CollectorRegistry, IngestCounters]:
    """A registry with the database figures and fresh per-process ingest counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, config))
    return registry, IngestCounters(registry)
