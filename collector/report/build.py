"""Compute the weekly report dict from the collector database.

Every figure of lost and active time comes from the impact model's hourly
aggregates (``collector.aggregates``), the same tables /metrics reads, so the
report and Prometheus agree; costs and scores use the model's own formulas
(``collector.impact.cost`` and ``score``). The base tables give what the
aggregates do not keep: which devices reported, application versions and the
causes and durations of connectivity outages. Each query is grouped in SQL so
a week of a large fleet reaches Python as a few thousand rows.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from collector import aggregates, impact
from collector.config import CollectorConfig
from collector.models import device_table, event_table
from collector.report.assemble import APP_TYPES, OUTAGE_TYPE, Model, WeekFacts, assemble
from collector.report.week import last_complete_week, parse_week, previous_weeks, week_bounds, week_label

TREND_WEEKS = 4


def model_of(cfg: impact.ModelConfig) -> Model:
    """The report's view of the impact model: version, parameters, cost and score (0..100)."""

    def score(lost_s: float, active_s: float) -> float | None:
        value = impact.score(lost_s, active_s)
        return None if value is None else 100.0 * value

    return Model(version=cfg.version, parameters=cfg.parameters(), currency=cfg.currency,
                 cost=lambda lost_s, department: impact.cost(lost_s, department, cfg), score=score)


def build_report(engine: Engine, config: CollectorConfig, week: str | None = None, now: float | None = None,
                 refresh: bool = True) -> dict:
    """The report dict for ISO week ``week`` (default: the last complete week) from the database.

    First brings the aggregates up to date (``aggregates.refresh``: the few
    device-days ingested since the collectors' last refresh round), unless
    ``refresh`` is False; then reads the week in one connection.
    """
    week = week or last_complete_week(datetime.fromtimestamp(now, timezone.utc) if now else None)
    monday = parse_week(week)
    settings = config.section("report")
    model_cfg = aggregates.model_config(config)
    if refresh:
        aggregates.refresh(engine, config)
    mondays = [*previous_weeks(monday, TREND_WEEKS - 1), monday]
    with engine.connect() as conn:
        weeks = [_week_facts(conn, config, m, full=(m == monday)) for m in mondays]
    ws, we = week_bounds(monday)
    period = {"start": _iso(ws), "end": _iso(we), "last_day": (monday + timedelta(days=6)).isoformat(), "timezone": "UTC"}
    generated = _iso(time.time() if now is None else now)
    return assemble(weeks, model_of(model_cfg), settings, period, generated)


def _week_facts(conn: Connection, config: CollectorConfig, monday: date, full: bool) -> WeekFacts:
    """What the report needs of one week; ``full=False`` skips what only the report's own week shows."""
    ws, we = week_bounds(monday)
    f = WeekFacts(week=week_label(monday))
    _load_model_figures(conn, config, ws, we, f)
    reporting = set(f.active) | {row[0] for row in f.disruptions}
    labels = _labels(conn, reporting)
    f.devices = {dev: labels.get(dev, ("unknown", "unknown")) for dev in reporting}
    f.known_devices = _known_devices(conn, ws, we, reporting)
    if full:
        f.versions = _versions(conn, config, ws, we)
        f.outages = _outages(conn, ws, we)
    return f


def _load_model_figures(conn: Connection, config: CollectorConfig, ws: float, we: float, f: WeekFacts) -> None:
    """Lost, active and disruption figures of the week from the impact model's hourly aggregates."""
    lost: dict[tuple[str, str, str], float] = defaultdict(float)
    count: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in aggregates.lost_by(conn, ws, we, group_by=("device_id", "type", "app")):
        key = (row["device_id"], row["type"], config.app_label(row["app"]))
        lost[key] += float(row["lost_s"])
        count[key] += int(row["disruptions"])
    f.lost = [(*k, v) for k, v in lost.items() if v > 0]
    f.disruptions = [(*k, n) for k, n in count.items() if n > 0]
    f.active = {row["device_id"]: float(row["active_s"])
                for row in aggregates.active_by(conn, ws, we, group_by=("device_id",)) if row["active_s"] > 0}
    for row in aggregates.lost_by(conn, ws, we, group_by=("hour",)):
        day, hour = divmod(int(row["hour"] - ws) // 3600, 24)
        f.heat[day][hour] += float(row["lost_s"])


def _labels(conn: Connection, devices: set[str]) -> dict[str, tuple[str, str]]:
    """Site and department of each device (from its latest heartbeat)."""
    d = device_table.c
    rows = conn.execute(sa.select(d.id, d.site, d.department))
    return {dev: (site, dept) for dev, site, dept in rows if dev in devices}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _versions(conn: Connection, config: CollectorConfig, ws: float, we: float) -> list[tuple[str, str, int]]:
    """Disruptions of catalogued applications per reported version (``details.app_version``)."""
    if not config.apps:
        return []
    e = event_table.c
    version = e.details["app_version"].as_string()
    rows = conn.execute(
        sa.select(e.app, version, sa.func.count())
        .where(e.start >= ws, e.start < we, e.type.in_(APP_TYPES), e.app.in_(config.apps), version.is_not(None))
        .group_by(e.app, version)
    )
    return [(app, str(v), int(n)) for app, v, n in rows]


def _outages(conn: Connection, ws: float, we: float) -> list[tuple[str, str, int, float]]:
    """Connectivity outages starting in the week per device and cause (the agents' causes, else "other", as
    ``hinder_connectivity_outages_total``), with their offline time inside the week."""
    e = event_table.c
    cause = e.details["cause"].as_string()
    offline = sa.case((e.end > we, we), else_=e.end) - e.start
    rows = conn.execute(
        sa.select(e.device_id, cause, sa.func.count(), sa.func.sum(offline))
        .where(e.start >= ws, e.start < we, e.type == OUTAGE_TYPE)
        .group_by(e.device_id, cause)
    )
    merged: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0])
    for dev, c, n, seconds in rows:
        acc = merged[dev, c if c in aggregates.CONNECTIVITY_CAUSES else aggregates.OTHER]
        acc[0] += int(n)
        acc[1] += float(seconds or 0.0)
    return [(dev, c, n, s) for (dev, c), (n, s) in merged.items()]


def _known_devices(conn: Connection, ws: float, we: float, reporting: set[str]) -> int:
    """Devices first seen before the week ended and seen within four weeks before it or later, plus reporting ones."""
    d = device_table.c
    ids = set(conn.execute(sa.select(d.id).where(d.first_seen < we, d.last_seen >= ws - 28 * 86400)).scalars())
    return len(ids | reporting)
