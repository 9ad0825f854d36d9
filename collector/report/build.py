"""Compute the weekly report dict from the collector database.

Every figure of lost and active time comes from the impact model's hourly
aggregates (``collector.aggregates``), the same tables /metrics reads, so the
report and Prometheus agree; costs and scores use the model's own formulas
(``collector.impact.cost`` and ``score``). Application versions and the
causes and durations of connectivity outages come from the per-day counts
ingest keeps (``outage_daily``, ``version_daily``), and which devices were
known from the device table. Each query is grouped in SQL; docs/report.md
("Performance") says what that costs at 10,000 devices.
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from collector import aggregates, impact
from collector.config import CollectorConfig
from collector.db import is_sqlite
from collector.models import (
    active_hourly_table,
    device_table,
    lost_hourly_table,
    lost_rollup_table,
    outage_daily_table,
    version_daily_table,
)
from collector.report.assemble import (
    APP_TYPES,
    VERSION_TYPES,
    Model,
    WeekFacts,
    assemble,
    repeat_ranking,
)
from collector.report.week import last_complete_week, parse_week, previous_weeks, week_bounds, week_label
from contract.events import EVENT_TYPES

TREND_WEEKS = 4
MMAP_BYTES = 1 << 30  # SQLite caps it at its compile-time maximum


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
    ``refresh`` is False; then reads the week, and the trend's earlier weeks on a second connection.
    """
    settings = config.section("report")
    zone = settings.zone
    week = week or last_complete_week(datetime.fromtimestamp(now, timezone.utc) if now else None, zone)
    monday = parse_week(week)
    model_cfg = aggregates.model_config(config)
    if refresh:
        aggregates.refresh(engine, config)

    def weeks_of(mondays: list[date]) -> list[WeekFacts]:
        with engine.connect() as conn, _mapped(conn):
            return [_week_facts(conn, config, zone, m, full=(m == monday)) for m in mondays]

    with ThreadPoolExecutor(1) as pool:
        # the trend's earlier weeks on a second connection meanwhile (the driver lets go of the GIL as it reads)
        earlier = pool.submit(weeks_of, previous_weeks(monday, TREND_WEEKS - 1))
        this_week = weeks_of([monday])
        weeks = [*earlier.result(), *this_week]
    ws, we = week_bounds(monday, zone)
    period = {"start": _iso(ws), "end": _iso(we), "last_day": (monday + timedelta(days=6)).isoformat(),
              "timezone": settings.timezone}
    generated = _iso(time.time() if now is None else now)
    return assemble(weeks, model_of(model_cfg), settings, period, generated)


@contextmanager
def _mapped(conn: Connection) -> Iterator[None]:
    """On SQLite, read the file through a memory map while the report runs: mapped pages cost no system call
    each, and the week's rows are scattered over a file of many weeks."""
    if not is_sqlite(conn):
        yield
        return
    before = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    conn.exec_driver_sql(f"PRAGMA mmap_size={MMAP_BYTES}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA mmap_size={int(before or 0)}")


def _week_facts(conn: Connection, config: CollectorConfig, zone: tzinfo, monday: date, full: bool) -> WeekFacts:
    """What the report needs of one week (in ``zone``); ``full=False`` skips what only the report's own week
    shows."""
    ws, we = week_bounds(monday, zone)
    f = WeekFacts(week=week_label(monday))
    labels = _load_model_figures(conn, ws, we, f, config.app_label if full else None)
    f.devices = labels
    f.known_devices = _known_devices(conn, ws, we, set(labels))
    if full:
        _load_heat_map(conn, monday, zone, ws, we, f)
        _load_app_figures(conn, config, ws, we, f)
        f.versions, f.outages = _versions(conn, config, ws, we), _outages(conn, ws, we)
    return f


def _hours(c, ws: float, we: float):
    return sa.and_(c.hour >= ws, c.hour < we)  # week bounds are whole hours


def _known(c):
    """Every device (device rows are never deleted): spelled as a subquery so the scans seek each device's
    hours in the (device, ...) indexes."""
    return c.device_id.in_(sa.select(device_table.c.id))


def _load_model_figures(conn: Connection, ws: float, we: float, f: WeekFacts,
                        label_of: Callable[[str], str] | None) -> dict[str, tuple[str, str]]:
    """Fill lost, disruption and active figures from the impact model's hourly aggregates.

    Lost seconds and disruptions per device and type (``lost_hourly``, the
    rows ``aggregates.lost_by`` sums; read in the order of its (device, type,
    hour) index, so no sort), active seconds per device and labels
    (``active_hourly``). The rows of ``f.lost``/``f.disruptions`` leave the
    application empty: the report's application figures come from
    :func:`_load_app_figures`, but for the devices per application, which the
    same scan gives when ``label_of`` (the application label function) is
    given: the distinct applications of each device and type. Returns each reporting device's site and department:
    those the aggregates recorded, the pair with the most active time if the
    device moved during the week.
    """
    lh, ah = lost_hourly_table.c, active_hourly_table.c
    lost, count, seen = [], [], set()
    apps_of: dict[str, set[str]] = defaultdict(set)  # device -> raw applications with disruptions of APP_TYPES
    for dev, etype, lost_s, n, apps in conn.execute(
            sa.select(lh.device_id, lh.type, sa.func.sum(lh.lost_s), sa.func.sum(lh.disruptions),
                      _apps_with_disruptions(conn) if label_of else sa.null())
            .where(_known(lh), lh.type.in_(EVENT_TYPES), _hours(lh, ws, we)).group_by(lh.device_id, lh.type)):
        seen.add(dev)
        if lost_s and lost_s > 0:
            lost.append((dev, etype, "", float(lost_s)))
        if n:
            count.append((dev, etype, "", int(n)))
        if apps and etype in APP_TYPES:
            apps_of[dev].update(apps[:-len(_SEP)].split(_SEP + ","))
    if label_of:
        app_devices: dict[str, int] = defaultdict(int)
        for apps in apps_of.values():
            for label in {label_of(a) for a in apps}:
                app_devices[label] += 1
        f.app_devices = dict(app_devices)
    pairs: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    active: dict[str, float] = defaultdict(float)
    for dev, site, dept, active_s in conn.execute(
            sa.select(ah.device_id, ah.site, ah.department, sa.func.sum(ah.active_s))
            .where(_known(ah), _hours(ah, ws, we)).group_by(ah.device_id, ah.site, ah.department)):
        pairs[dev][(site, dept)] = float(active_s or 0.0)
        active[dev] += float(active_s or 0.0)
    # A device's lost and active rows of one day carry the same labels (one refresh computes both), and an
    # active pair always outweighs one with lost rows only: those count only for devices without active time.
    no_active = sorted(seen - set(pairs))
    for chunk in range(0, len(no_active), 1000):
        for dev, site, dept in conn.execute(
                sa.select(lh.device_id, lh.site, lh.department).distinct()
                .where(lh.device_id.in_(no_active[chunk:chunk + 1000]), _hours(lh, ws, we))):
            pairs[dev].setdefault((site, dept), 0.0)
    f.lost, f.disruptions = lost, count
    f.active = {dev: s for dev, s in active.items() if s > 0}
    return {dev: max(sorted(p), key=lambda k: p[k]) for dev, p in pairs.items()}


def _load_heat_map(conn: Connection, monday: date, zone: tzinfo, ws: float, we: float, f: WeekFacts) -> None:
    """Lost time by weekday and hour of the day in the report's time zone, from the hour rollup."""
    lr = lost_rollup_table.c
    for hour, lost_s in conn.execute(
            sa.select(lr.hour, sa.func.sum(lr.lost_s)).where(_hours(lr, ws, we)).group_by(lr.hour)):
        local = datetime.fromtimestamp(hour, zone)
        day = (local.date() - monday).days
        if 0 <= day < 7:
            f.heat[day][local.hour] += float(lost_s or 0.0)


_SEP = "\x1f"  # ends each application name in the list of distinct names (SQLite's separator is always ",")


def _apps_with_disruptions(conn: Connection):
    """The distinct applications of a group's rows with disruptions, as "app1\\x1f,app2\\x1f" (no sort)."""
    c = lost_hourly_table.c
    named = sa.distinct(sa.case((c.disruptions > 0, c.app.concat(_SEP))))
    return sa.func.group_concat(named) if is_sqlite(conn) else sa.func.string_agg(named, ",")


def _load_app_figures(conn: Connection, config: CollectorConfig, ws: float, we: float, f: WeekFacts) -> None:
    """Application figures: lost time and disruptions per application label and type from the hour rollup
    (``lost_rollup``, as /metrics) and the applications of the listed repeat devices."""
    lh, lr = lost_hourly_table.c, lost_rollup_table.c
    f.apps = [(app, t, float(lost_s or 0.0), int(n or 0)) for t, app, lost_s, n in conn.execute(
        sa.select(lr.type, lr.app, sa.func.sum(lr.lost_s), sa.func.sum(lr.disruptions))
        .where(lr.type.in_(APP_TYPES), _hours(lr, ws, we)).group_by(lr.type, lr.app))]
    listed = repeat_ranking(f, config.section("report"))[:config.section("report").repeat_devices]
    f.device_apps = defaultdict(dict)
    for dev, app, n in conn.execute(
            sa.select(lh.device_id, lh.app, sa.func.sum(lh.disruptions))
            .where(lh.device_id.in_(listed), _hours(lh, ws, we)).group_by(lh.device_id, lh.app)):
        if n:
            apps = f.device_apps[dev]
            apps[config.app_label(app)] = apps.get(config.app_label(app), 0) + int(n)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _versions(conn: Connection, config: CollectorConfig, ws: float, we: float) -> list[tuple[str, str, int]]:
    """Failures (VERSION_TYPES) of catalogued applications per reported version (``details.app_version``)."""
    if not config.apps:
        return []
    v = version_daily_table.c
    rows = conn.execute(
        sa.select(v.app, v.version, sa.func.sum(v.count))
        .where(v.day >= ws, v.day < we, v.type.in_(VERSION_TYPES), v.app.in_(config.apps))
        .group_by(v.app, v.version))
    return [(app, version, int(n)) for app, version, n in rows]


def _outages(conn: Connection, ws: float, we: float) -> list[tuple[str, str, int, float]]:
    """Connectivity outages starting in the week per device and cause (the agents' causes, else "other", as
    ``hinder_connectivity_outages_total``), with their offline time inside the week."""
    o = outage_daily_table.c
    rows = conn.execute(
        sa.select(o.device_id, o.cause, sa.func.sum(o.outages), sa.func.sum(o.seconds))
        .where(o.day >= ws, o.day < we).group_by(o.device_id, o.cause))
    return [(dev, cause, int(n), float(seconds or 0.0)) for dev, cause, n, seconds in rows]


def _known_devices(conn: Connection, ws: float, we: float, reporting: set[str]) -> int:
    """Devices first seen before the week ended and seen within four weeks before it or later, plus reporting ones."""
    d = device_table.c
    ids = set(conn.execute(sa.select(d.id).where(d.first_seen < we, d.last_seen >= ws - 28 * 86400)).scalars())
    return len(ids | reporting)
