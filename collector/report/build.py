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

from collector import impact
from collector.config import CollectorConfig
from collector.models import device_table, event_table, heartbeat_table
from collector.report.assemble import APP_TYPES, OUTAGE_TYPE, Model, WeekFacts, assemble
from collector.report.week import last_complete_week, parse_week, previous_weeks, week_bounds, week_label

TREND_WEEKS = 4
_MAX_HEARTBEAT_REACH_S = 86400.0  # a heartbeat closing a (long) interval this far after the week still reaches into it


def model_of(cfg: impact.ModelConfig) -> Model:
    """The report's view of the impact model: version, parameters, cost and score (0..100)."""

    def score(lost_s: float, active_s: float) -> float | None:
        value = impact.score(lost_s, active_s)
        return None if value is None else 100.0 * value

    return Model(version=cfg.version, parameters=cfg.parameters(), currency=cfg.currency,
                 cost=lambda lost_s, department: impact.cost(lost_s, department, cfg), score=score)


def build_report(engine: Engine, config: CollectorConfig, week: str | None = None, now: float | None = None) -> dict:
    """The report dict for ISO week ``week`` (default: the last complete week) from the database."""
    week = week or last_complete_week(datetime.fromtimestamp(now, timezone.utc) if now else None)
    monday = parse_week(week)
    settings = config.section("report")
    model_cfg = config.section("model")
    mondays = [*previous_weeks(monday, TREND_WEEKS - 1), monday]
    with engine.connect() as conn:
        weeks = [_week_facts(conn, config, model_cfg, m, full=(m == monday)) for m in mondays]
    ws, we = week_bounds(monday)
    period = {"start": _iso(ws), "end": _iso(we), "last_day": (monday + timedelta(days=6)).isoformat(), "timezone": "UTC"}
    generated = _iso(time.time() if now is None else now)
    return assemble(weeks, model_of(model_cfg), settings, period, generated)


def _week_facts(conn: Connection, config: CollectorConfig, model_cfg: impact.ModelConfig, monday: date,
                full: bool) -> WeekFacts:
    """What the report needs of one week; ``full=False`` skips what only the report's own week shows."""
    ws, we = week_bounds(monday)
    f = WeekFacts(week=week_label(monday))
    _load_model_figures(conn, config, model_cfg, ws, we, f)
    reporting = set(f.active) | {row[0] for row in f.disruptions}
    labels = _labels(conn, reporting)
    f.devices = {dev: labels.get(dev, ("unknown", "unknown")) for dev in reporting}
    f.known_devices = _known_devices(conn, ws, we, reporting)
    if full:
        f.versions = _versions(conn, config, ws, we)
        f.outages = _outages(conn, ws, we)
    return f


def _load_model_figures(conn: Connection, config: CollectorConfig, cfg: impact.ModelConfig, ws: float, we: float,
                        f: WeekFacts) -> None:
    """Lost, active and disruption figures of the week from the impact model, per device, type and app label."""
    lost: dict[tuple[str, str, str], float] = defaultdict(float)
    count: dict[tuple[str, str, str], int] = defaultdict(int)
    for dev, hours in _device_hours(conn, cfg, ws, we):
        for (hour, etype, app), seconds in hours.lost.items():
            lost[dev, etype, config.app_label(app)] += seconds
            day, hh = divmod(int(hour - ws) // 3600, 24)
            f.heat[day][hh] += seconds
        for (_h, etype, app), n in hours.disruptions.items():
            count[dev, etype, config.app_label(app)] += n
        active = sum(hours.active.values())
        if active > 0:
            f.active[dev] = active
    f.lost = [(*k, v) for k, v in lost.items()]
    f.disruptions = [(*k, n) for k, n in count.items()]


def _device_hours(conn: Connection, cfg: impact.ModelConfig, ws: float, we: float):
    """(device, impact.DeviceHours) for every device with records in the week, by the model itself."""
    reach = max([cfg.crash_recovery_s, cfg.unexpected_shutdown_recovery_s, cfg.abnormal_exit_recovery_s,
                 cfg.test_recovery_s, *cfg.app_crash_recovery_s.values()]) + cfg.refocus_penalty_s
    e, h = event_table.c, heartbeat_table.c
    events: dict[str, list[impact.Disruption]] = defaultdict(list)
    for row in conn.execute(sa.select(e.id, e.device_id, e.type, e.app, e.start, e.duration_s, e.active_s,
                                      e.details["excess_s"].as_float())
                            .where(e.start < we, e.end > ws - reach)):
        events[row[1]].append(impact.Disruption(row[0], row[2], row[3], row[4], row[5], row[6], row[7]))
    beats: dict[str, list[impact.Interval]] = defaultdict(list)
    for dev, t, interval, active in conn.execute(
            sa.select(h.device_id, h.time, h.interval_s, h.active_s)
            .where(h.time > ws - reach - cfg.instant_lookback_s, h.time < we + _MAX_HEARTBEAT_REACH_S)):
        beats[dev].append(impact.Interval(t, interval, active))
    for dev in sorted(set(events) | set(beats)):
        yield dev, impact.device_hours(events.get(dev, []), beats.get(dev, []), cfg, window=(ws, we))


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
    """Connectivity outages starting in the week per device and cause, with their offline time inside the week."""
    e = event_table.c
    cause = sa.func.coalesce(e.details["cause"].as_string(), "unknown")
    offline = sa.case((e.end > we, we), else_=e.end) - e.start
    rows = conn.execute(
        sa.select(e.device_id, cause, sa.func.count(), sa.func.sum(offline))
        .where(e.start >= ws, e.start < we, e.type == OUTAGE_TYPE)
        .group_by(e.device_id, cause)
    )
    return [(dev, c, int(n), float(s or 0.0)) for dev, c, n, s in rows]


def _known_devices(conn: Connection, ws: float, we: float, reporting: set[str]) -> int:
    """Devices first seen before the week ended and seen within four weeks before it or later, plus reporting ones."""
    d = device_table.c
    ids = set(conn.execute(sa.select(d.id).where(d.first_seen < we, d.last_seen >= ws - 28 * 86400)).scalars())
    return len(ids | reporting)
