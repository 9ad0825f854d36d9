"""Hourly aggregates of the impact model, kept current from ingest, and their query API.

How the figures stay current (docs/impact-model.md, "Storage"):

1. Inside the ingest transaction, :func:`mark_dirty` (an ``AFTER_INSERT``
   hook) marks the hours the new records can change in ``impact_dirty`` (one
   row per device-day with its first and last dirty hour, bumping
   ``generation``), and counts connectivity outages and application-version
   disruptions, which are counted on arrival.
2. :func:`refresh` (run every few seconds by the collector's background jobs in every
   replica, and callable from tests and the report) claims dirty device-days,
   recomputes their dirty hours from the stored events and heartbeats with
   :func:`collector.impact.device_hours`, replaces the device's rows in
   ``lost_hourly``/``active_hourly`` and applies the *difference* to the label
   rollups (``lost_rollup`` by hour; ``lost_daily``, ``active_daily``,
   ``app_active_daily`` by UTC day; their sums over the trailing week
   ``lost_week``, ``active_week``, ``app_active_week``, which the gauges read
   and :func:`roll_week` moves forward each day) and the all-time totals
   (``impact_total``). On PostgreSQL the claim is
   ``SELECT ... FOR UPDATE SKIP LOCKED``, so replicas share the work and never
   recompute one device-day at the same time; a mark that arrives during a
   recompute bumps the generation and the day is recomputed again.

Query API for reports: :func:`lost_by` and :func:`active_by` (exact sums over
``[start, end)`` at hour granularity, grouped by any of their columns) and
:func:`app_active_by` (the per-application score's denominator).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from itertools import repeat
from operator import add, floordiv, methodcaller
from typing import Any, Iterable, Iterator, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from collector import impact
from collector.columns import Columns
from collector.config import CollectorConfig
from collector.db import add_up, insert, is_sqlite, prepared, write_transaction
from collector.ingest import AFTER_INSERT, IngestedBatch
from collector.models import (
    active_daily_table,
    active_hourly_table,
    active_week_table,
    app_active_daily_table,
    app_active_week_table,
    app_version_count_table,
    device_table,
    disruption_count_table,
    event_table,
    heartbeat_table,
    impact_dirty_table,
    impact_total_table,
    lost_daily_table,
    lost_hourly_table,
    lost_rollup_table,
    lost_week_table,
    outage_count_table,
    outage_daily_table,
    recent_disruption_table,
    version_daily_table,
    week_state_table,
)
from contract.events import CONNECTIVITY_CAUSES
from contract.records import MAX_DURATION_S

DAY = 86400
HOUR = impact.HOUR
MAX_HEARTBEAT_S = DAY  # a heartbeat is looked for at most one day after the window it covers
OTHER = "other"
REFRESH_EVERY_S = 5.0  # how often each collector process runs refresh() in the background
UNKNOWN_VERSION = "unknown"
RECENT_S = 900.0  # "devices disrupted now": going on or started in the last 15 minutes


def _day(t: float) -> int:
    return int(math.floor(t / DAY) * DAY)


def model_config(config: CollectorConfig) -> impact.ModelConfig:
    """The ``[model]`` settings of a collector config (defaults when absent)."""
    return config.sections.get("model") or impact.ModelConfig()


def to_disruption(row: Any) -> impact.Disruption:
    """The model's view of an event row or wire event (``details.excess_s`` when it is a number).

    ``details`` is a dict or its JSON text; it is read only for the types whose cost is their excess time.
    """
    excess = None
    if row["type"] in impact.EXCESS_TYPES:
        details = row["details"] or {}
        excess = (msgspec.json.decode(details) if isinstance(details, str) else details).get("excess_s")
        excess = float(excess) if isinstance(excess, (int, float)) and not isinstance(excess, bool) else None
    return impact.Disruption(id=row["id"], type=row["type"], app=row["app"], start=row["start"],
                             duration_s=row["duration_s"], active_s=row["active_s"], excess_s=excess)


# ------------------------------------------------------------------ ingest


def mark_dirty(conn: Connection, batch: IngestedBatch) -> None:
    """Ingest hook: mark the device-hours the new records can change; count outages and app versions."""
    reach = model_config(batch.config).reach_s
    hours: dict[int, list[int]] = {}  # day -> [first hour, last hour] to recompute
    events = batch.events
    starts, durations = events["start"], events["duration_s"]
    if starts:
        # From the first start to the last reach: a superset of impact.event_span's hours (recomputing hours
        # between two days of a backlog is harmless, and whole-column min/max is what ingest can afford).
        ends = list(map(add, starts, durations))
        for i in [i for i, t in enumerate(events["type"]) if t in impact.EXCESS_TYPES]:  # slow beyond their run
            excess = events["details"][i].get("excess_s")
            if type(excess) in (int, float) and excess > durations[i]:
                ends[i] = starts[i] + excess
        _mark(hours, min(starts), max(ends) + reach)
    dev_id = batch.device["id"]
    for h in batch.heartbeats:
        _mark(hours, h["time"] - h["interval_s"], h["time"] + reach)
    if batch.heartbeats:
        # A heartbeat changes the active fraction of every event overlapping it, on all of that event's hours.
        lo = min(h["time"] - h["interval_s"] for h in batch.heartbeats)
        hi = max(h["time"] for h in batch.heartbeats)
        first, last = conn.execute(prepared(conn, _overlapping_events),
                                   {"dev": dev_id, "oldest": lo - MAX_DURATION_S, "lo": lo, "hi": hi}).one()
        if first is not None:
            _mark(hours, first, last + reach)
    if hours:
        conn.execute(prepared(conn, _mark_hours), [
            {"device_id": dev_id, "day": d, "generation": 1, "first_hour": lo, "last_hour": hi}
            for d, (lo, hi) in sorted(hours.items())])
    count_on_arrival(conn, batch)


def _mark(hours: dict[int, list[int]], s: float, e: float) -> None:
    """Add the hours of ``[s, e]`` to ``hours`` (UTC day -> [first hour, last hour] of that day)."""
    first, last = impact.hour_start(s), impact.hour_start(max(s, e))
    day = first // DAY * DAY
    while day <= last:
        lo, hi = max(first, day), min(last, day + DAY - HOUR)
        span = hours.get(day)
        if span is None:
            hours[day] = [lo, hi]
        else:
            span[0], span[1] = min(span[0], lo), max(span[1], hi)
        day += DAY


def _overlapping_events(_bind: Connection):
    e = event_table.c
    return sa.select(sa.func.min(e.start), sa.func.max(e.end)).where(
        e.device_id == sa.bindparam("dev"), e.start >= sa.bindparam("oldest"), e.start < sa.bindparam("hi"),
        e.end > sa.bindparam("lo"))


def _mark_hours(bind: Connection):
    t = impact_dirty_table.c
    stmt = insert(bind, impact_dirty_table)
    new = stmt.excluded
    return stmt.on_conflict_do_update(index_elements=["device_id", "day"], set_={
        "generation": t.generation + 1,
        "first_hour": sa.case((new.first_hour < t.first_hour, new.first_hour), else_=t.first_hour),
        "last_hour": sa.case((new.last_hour > t.last_hour, new.last_hour), else_=t.last_hour)})


def count_on_arrival(conn: Connection, batch: IngestedBatch) -> None:
    """Count what is counted when it arrives: disruptions by label and app version (all time, for /metrics),
    outages and app versions per day (for the report), recent disruptions."""
    dev = batch.device
    _note_recent(conn, batch)
    counts = _Arrivals(dev["id"])
    counts.add(batch.events)
    app_label = batch.config.app_label
    disruptions: dict[tuple[str, str], int] = defaultdict(int)
    versions: dict[tuple[str, str, str], int] = defaultdict(int)
    for (_day, etype, app, version), n in counts.by_version.items():
        label = app_label(app)
        disruptions[(etype, label)] += n
        if label != OTHER:
            versions[(app, version or UNKNOWN_VERSION, etype)] += n
    add_up(conn, disruption_count_table, ["type", "app", "site", "department", "os"], ["count"],
           [((t, app, dev["site"], dev["department"], dev["os"]), (n,)) for (t, app), n in disruptions.items()])
    add_up(conn, outage_count_table, ["cause", "site", "department"], ["outages", "seconds"],
           [((c, dev["site"], dev["department"]), acc) for c, acc in counts.outages.items()])
    add_up(conn, app_version_count_table, ["app", "version", "type"], ["count"],
           [(k, (n,)) for k, n in versions.items()])
    _add_day_counts(conn, counts)


def _week_end(t: float) -> float:
    """The end of the ISO week (next Monday 00:00 UTC) of Unix time ``t``."""
    days = math.floor(t / DAY)
    return (days - (days + 3) % 7 + 7) * DAY  # 1970-01-01 was a Thursday


def _version(value: Any) -> str | None:
    """An event's ``app_version`` detail as counted: text of at most 64 characters, None if absent or empty."""
    return None if value is None or value == "" else str(value)[:64]


class _Arrivals:
    """What one device's events add to the counts kept on arrival.

    ``by_version`` ((day, type, app, version or None) -> events) is counted in
    one pass over the events, in C; the per-label counts are sums of it.
    ``outages`` (cause -> [outages, seconds]) is all-time, for /metrics;
    ``outage_days`` ((day, device, cause) -> [outages, offline seconds up to the
    end of their week]) is per day of the outages' starts, for the weekly report.
    """

    def __init__(self, device_id: str):
        self.device_id = device_id
        self.by_version: dict[tuple[int, str, str, str | None], int] = defaultdict(int)
        self.outages: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.outage_days: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0, 0.0])

    def add(self, events: Columns) -> None:
        starts, types, details = events["start"], events["type"], events["details"]
        versions = list(map(_APP_VERSION, details))
        # The version detail's class is part of the key, so that 1 and True (equal in Python) stay apart.
        raw = Counter(zip(map(floordiv, starts, repeat(DAY)), types, events["app"], versions, map(type, versions)))
        for (day, etype, app, version, _cls), n in raw.items():
            self.by_version[(int(day) * DAY, etype, app, _version(version))] += n
        for i in [i for i, t in enumerate(types) if t == "connectivity_loss"]:
            start, duration, cause = starts[i], events["duration_s"][i], details[i].get("cause")
            cause = cause if cause in CONNECTIVITY_CAUSES else OTHER
            acc = self.outages[cause]
            acc[0] += 1
            acc[1] += duration
            acc = self.outage_days[(_day(start), self.device_id, cause)]
            acc[0] += 1
            acc[1] += min(start + duration, _week_end(start)) - start


_APP_VERSION = methodcaller("get", "app_version")


def _add_day_counts(conn: Connection, counts: _Arrivals) -> None:
    add_up(conn, outage_daily_table, ["day", "device_id", "cause"], ["outages", "seconds"],
           counts.outage_days.items())
    add_up(conn, version_daily_table, ["day", "app", "version", "type"], ["count"],
           [((day, app, version, etype), (n,)) for (day, etype, app, version), n in counts.by_version.items()
            if version is not None])


def count_days_of_stored_events(conn: Connection) -> None:
    """Add every stored event to the per-day outage and version counts (for a database migrated to them)."""
    e = event_table.c
    rows = conn.execute(sa.select(e.device_id, e.type, e.app, e.start, e.duration_s, e.details)
                        .order_by(e.device_id).execution_options(yield_per=20_000))
    total = _Arrivals("")
    for dev, group in itertools.groupby(rows.mappings(), key=lambda r: r["device_id"]):
        total.device_id = dev
        total.add(Columns.of([{**r, "details": r["details"] or {}} for r in group],
                             ("type", "app", "start", "duration_s", "details")))
    _add_day_counts(conn, total)


def _note_recent(conn: Connection, batch: IngestedBatch) -> None:
    """Keep, per device and type, the latest end of a disruption that is recent enough to show as current."""
    cutoff = batch.received_at - RECENT_S
    events = batch.events
    ends = map(add, events["start"], events["duration_s"])
    latest = dict(sorted((t, end) for t, end in zip(events["type"], ends) if end >= cutoff))  # max per type
    if not latest:
        return
    dev = batch.device
    conn.execute(prepared(conn, _note_latest), [{"device_id": dev["id"], "type": ty, "site": dev["site"], "end": end}
                                                for ty, end in sorted(latest.items())])


def _note_latest(bind: Connection):
    t = recent_disruption_table
    stmt = insert(bind, t)
    return stmt.on_conflict_do_update(index_elements=["device_id", "type"], set_={
        "site": stmt.excluded.site, "end": sa.case((stmt.excluded.end > t.c.end, stmt.excluded.end), else_=t.c.end)})


def devices_disrupted(conn: Connection, now: float) -> list[tuple[str, str, int]]:
    """(type, site, devices) with a disruption going on or started in the last RECENT_S seconds."""
    t = recent_disruption_table.c
    return [tuple(r) for r in conn.execute(
        sa.select(t.type, t.site, sa.func.count()).where(t.end >= now - RECENT_S).group_by(t.type, t.site))]


AFTER_INSERT.append(mark_dirty)


# ------------------------------------------------------------------ refresh


def refresh(engine: Engine, config: CollectorConfig, batch_size: int = 200, max_batches: int | None = None,
            now: float | None = None) -> int:
    """Recompute dirty device-days until none is left (or ``max_batches``); return how many were done.

    Also moves the trailing week forward and forgets old recent disruptions.
    Safe to run in several processes at once. Device-days another replica is
    recomputing right now are skipped, not waited for.
    """
    now = time.time() if now is None else now
    with write_transaction(engine) as conn:
        conn.execute(recent_disruption_table.delete().where(recent_disruption_table.c.end < now - RECENT_S))
        roll_week(conn, now)
    done = 0
    rounds = 0
    while max_batches is None or rounds < max_batches:
        with write_transaction(engine) as conn:
            n = _refresh_claimed(conn, config, batch_size, now)
        done += n
        rounds += 1
        if n < batch_size:
            break
    return done


def _refresh_claimed(conn: Connection, config: CollectorConfig, limit: int, now: float) -> int:
    d = impact_dirty_table.c
    claim = sa.select(d.device_id, d.day, d.generation, d.first_hour, d.last_hour).order_by(d.day, d.device_id)
    claim = claim.limit(limit)
    if not is_sqlite(conn):
        claim = claim.with_for_update(skip_locked=True)
    claimed = conn.execute(claim).all()
    if not claimed:
        return 0
    cfg = model_config(config)
    devices_of: dict[tuple[int, int], list[str]] = defaultdict(list)  # window [lo, hi) -> devices
    for dev_id, _day, _gen, first, last in claimed:
        devices_of[(first, last + HOUR)].append(dev_id)
    dc = device_table.c
    labels = {r[0]: tuple(r[1:]) for r in conn.execute(
        sa.select(dc.id, dc.site, dc.department, dc.os).where(dc.id.in_({row[0] for row in claimed})))}
    contributions = Contributions(config)
    new_lost: list[dict] = []
    new_active: list[dict] = []
    for (lo, hi), devices in devices_of.items():
        old_lost, old_active = _stored_rows(conn, devices, lo, hi)
        for dev_id, hours in _compute_window(conn, cfg, devices, lo, hi).items():
            lost, active = hourly_rows(dev_id, labels.get(dev_id, ("unknown",) * 3), hours)
            contributions.add(old_lost[dev_id], old_active[dev_id], -1)
            contributions.add(lost, active, +1)
            new_lost += lost
            new_active += active
    spans = [{"dev": dev_id, "lo": first, "hi": last + HOUR} for dev_id, _day, _gen, first, last in claimed]
    conn.execute(_STMT["delete_lost"], spans)
    conn.execute(_STMT["delete_active"], spans)
    if new_lost:
        conn.execute(lost_hourly_table.insert(), new_lost)
    if new_active:
        conn.execute(active_hourly_table.insert(), new_active)
    contributions.apply(conn, now)
    conn.execute(_STMT["delete_dirty"], [{"dev": dev_id, "day": day, "gen": gen}
                                         for dev_id, day, gen, _first, _last in claimed])
    return len(claimed)


def _statements() -> dict[str, Any]:
    """The refresher's statements, built once (building SQLAlchemy expressions costs more than running them)."""
    e, h, lh, ah, d = event_table.c, heartbeat_table.c, lost_hourly_table.c, active_hourly_table.c, impact_dirty_table.c
    devs = sa.bindparam("devs", expanding=True)
    dev, lo, hi = sa.bindparam("dev"), sa.bindparam("lo"), sa.bindparam("hi")
    return {
        "events": sa.select(e.device_id, e.id, e.type, e.app, e.start, e.duration_s, e.active_s,
                            sa.cast(e.details, sa.Text).label("details")).where(  # JSON text: parsed only if needed
            e.device_id.in_(devs), e.start >= sa.bindparam("oldest"), e.start < hi, e.end >= lo),
        "heartbeats": sa.select(h.device_id, h.time, h.interval_s, h.active_s).where(
            h.device_id.in_(devs), h.time >= lo, h.time < hi),
        "old_lost": sa.select(lost_hourly_table).where(lh.device_id.in_(devs), lh.hour >= lo, lh.hour < hi),
        "old_active": sa.select(active_hourly_table).where(ah.device_id.in_(devs), ah.hour >= lo, ah.hour < hi),
        "delete_lost": lost_hourly_table.delete().where(lh.device_id == dev, lh.hour >= lo, lh.hour < hi),
        "delete_active": active_hourly_table.delete().where(ah.device_id == dev, ah.hour >= lo, ah.hour < hi),
        "delete_dirty": impact_dirty_table.delete().where(
            d.device_id == dev, d.day == sa.bindparam("day"), d.generation == sa.bindparam("gen")),
    }


_STMT = _statements()


def _compute_window(conn: Connection, cfg: impact.ModelConfig, devices: list[str], lo: int,
                    hi: int) -> dict[str, impact.DeviceHours]:
    """The model's figures for the hours ``[lo, hi)`` of some devices, from their stored events and heartbeats."""
    reach = cfg.reach_s
    events: dict[str, list[impact.Disruption]] = {dev: [] for dev in devices}
    for r in conn.execute(_STMT["events"], {"devs": devices, "oldest": lo - MAX_DURATION_S, "hi": hi,
                                            "lo": lo - reach}).mappings():
        events[r["device_id"]].append(to_disruption(r))
    since = min([lo - reach, *(ev.start - reach for evs in events.values() for ev in evs)])
    heartbeats: dict[str, list[impact.Interval]] = {dev: [] for dev in devices}
    for dev, t, interval, active in conn.execute(
            _STMT["heartbeats"], {"devs": devices, "lo": since, "hi": hi + MAX_HEARTBEAT_S}):
        heartbeats[dev].append(impact.Interval(end=t, interval_s=interval, active_s=active))
    return {dev: impact.device_hours(events[dev], heartbeats[dev], cfg, window=(lo, hi)) for dev in devices}


def _stored_rows(conn: Connection, devices: list[str], lo: int,
                 hi: int) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """The devices' current hourly rows of the hours ``[lo, hi)``, by device."""
    params = {"devs": devices, "lo": lo, "hi": hi}
    out: tuple[dict, dict] = (defaultdict(list), defaultdict(list))
    for i, stmt in enumerate((_STMT["old_lost"], _STMT["old_active"])):
        for r in conn.execute(stmt, params).mappings():
            out[i][r["device_id"]].append(dict(r))
    return out


def hourly_rows(dev_id: str, labels: tuple[str, str, str], hours: impact.DeviceHours) -> tuple[list[dict], list[dict]]:
    """The ``lost_hourly`` and ``active_hourly`` rows of one device's figures; labels are (site, department, os)."""
    site, department, os_name = labels
    lost = [{"device_id": dev_id, "hour": h, "type": t, "app": a, "site": site, "department": department, "os": os_name,
             "lost_s": hours.lost.get((h, t, a), 0.0), "disruptions": hours.disruptions.get((h, t, a), 0)}
            for (h, t, a) in sorted(set(hours.lost) | set(hours.disruptions))]
    active = [{"device_id": dev_id, "hour": h, "site": site, "department": department, "os": os_name, "active_s": v}
              for h, v in sorted(hours.active.items()) if v > 0]
    return lost, active


# (daily table, its trailing-week sums, their label columns, the value summed)
_DAILY_AND_WEEK = (
    (lost_daily_table, lost_week_table, ["type", "app", "site", "department"], "lost_s"),
    (active_daily_table, active_week_table, ["site", "department"], "active_s"),
    (app_active_daily_table, app_active_week_table, ["app"], "active_s"),
)


class Contributions:
    """Differences to apply to the rollups and totals, summed over a refresh round."""

    def __init__(self, config: CollectorConfig):
        self.label = config.app_label
        self.lost: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0])
        self.lost_daily: dict[tuple, float] = defaultdict(float)
        self.active: dict[tuple, float] = defaultdict(float)
        self.app_active: dict[tuple, float] = defaultdict(float)
        self.totals: dict[tuple, float] = defaultdict(float)

    def add(self, lost_rows: list[dict], active_rows: list[dict], sign: int) -> None:
        """Add (sign +1) or remove (-1) one device-day's rows."""
        apps = {self.label(r["app"]) for r in lost_rows}
        for r in lost_rows:
            key = (r["hour"], r["type"], self.label(r["app"]), r["site"], r["department"])
            acc = self.lost[key]
            acc[0] += sign * r["lost_s"]
            acc[1] += sign * r["disruptions"]
            self.lost_daily[(_day(r["hour"]),) + key[1:]] += sign * r["lost_s"]
            self.totals[("lost",) + key[1:]] += sign * r["lost_s"]
        for r in active_rows:
            day = _day(r["hour"])
            self.active[(day, r["site"], r["department"])] += sign * r["active_s"]
            self.totals[("active", "", "", r["site"], r["department"])] += sign * r["active_s"]
            for app in apps:
                self.app_active[(day, app)] += sign * r["active_s"]

    def apply(self, conn: Connection, now: float) -> None:
        """Upsert the differences, in key order (concurrent refreshers then lock rows in one order)."""
        add_up(conn, lost_rollup_table, ["hour", "type", "app", "site", "department"], ["lost_s", "disruptions"],
               [(k, v) for k, v in self.lost.items() if v[0] or v[1]])
        first_day = roll_week(conn, now)
        for (daily, week, keys, value), deltas in zip(_DAILY_AND_WEEK, (self.lost_daily, self.active, self.app_active)):
            add_up(conn, daily, ["day", *keys], [value], [(k, [v]) for k, v in deltas.items() if v])
            in_week: dict[tuple, float] = defaultdict(float)
            for k, v in deltas.items():
                if k[0] >= first_day:
                    in_week[k[1:]] += v
            add_up(conn, week, keys, [value], [(k, [v]) for k, v in in_week.items() if v])
        rows = [(k, v) for k, v in self.totals.items() if v]
        if rows:
            t = impact_total_table
            stmt = insert(conn, t)
            grown = t.c.value + stmt.excluded.value
            stmt = stmt.on_conflict_do_update(
                index_elements=["metric", "type", "app", "site", "department"],
                set_={"value": grown, "exported": sa.case((grown > t.c.exported, grown), else_=t.c.exported)})
            conn.execute(stmt, [dict(zip(("metric", "type", "app", "site", "department"), k), value=v,
                                     exported=max(v, 0.0)) for k, v in sorted(rows)])


def roll_week(conn: Connection, now: float) -> int:
    """Move the ``*_week`` tables to the trailing week of ``now``: subtract the days that left it.

    Returns the first day they cover. The ``week_state`` row is locked until
    commit, so concurrent refreshers roll and add in turn, and the week tables
    always equal their daily tables summed from ``first_day`` on.
    """
    ws = week_state_table.c
    select = sa.select(ws.first_day).where(ws.id == 1)
    if not is_sqlite(conn):
        select = select.with_for_update()
    first_day = conn.execute(select).scalar_one()
    target = week_window(now)[0]
    if target <= first_day:  # a replica whose clock is a little behind: keep the newer window
        return first_day
    for daily, week, keys, value in _DAILY_AND_WEEK:
        cols = [daily.c[k] for k in keys]
        expired = conn.execute(sa.select(*cols, sa.func.sum(daily.c[value])).where(
            daily.c.day >= first_day, daily.c.day < target).group_by(*cols))
        add_up(conn, week, keys, [value], [(tuple(r[:-1]), [-r[-1]]) for r in expired if r[-1]])
    conn.execute(week_state_table.update().where(ws.id == 1).values(first_day=target))
    return target


def pending(conn: Connection) -> int:
    """Device-days waiting to be recomputed (how far the figures lag behind ingest)."""
    return conn.execute(sa.select(sa.func.count()).select_from(impact_dirty_table)).scalar_one()


# ------------------------------------------------------------------ queries

_LOST_COLUMNS = ("device_id", "hour", "type", "app", "site", "department", "os")
_ACTIVE_COLUMNS = ("device_id", "hour", "site", "department", "os")


def _grouped(bind, table: sa.Table, allowed: Sequence[str], sums: dict[str, Any], start: float, end: float,
             group_by: Iterable[str], where: dict[str, Any] | None) -> list[dict[str, Any]]:
    group_by = list(group_by)
    for name in [*group_by, *(where or {})]:
        if name not in allowed:
            raise ValueError(f"cannot group or filter by {name!r}; use {', '.join(allowed)}")
    cols = [table.c[g] for g in group_by]
    stmt = sa.select(*cols, *(fn.label(k) for k, fn in sums.items())).where(
        table.c.hour >= _ceil(start, impact.HOUR), table.c.hour < _ceil(end, impact.HOUR))
    for name, value in (where or {}).items():
        stmt = stmt.where(table.c[name].in_(value) if isinstance(value, (list, tuple, set)) else table.c[name] == value)
    if cols:
        stmt = stmt.group_by(*cols).order_by(*cols)
    with _connection(bind) as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _ceil(t: float, step: int) -> int:
    return int(math.ceil(t / step) * step)


@contextmanager
def _connection(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def lost_by(bind: Engine | Connection, start: float, end: float, group_by: Iterable[str] = (),
            where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Lost seconds and disruptions in the hours ``[start, end)``, grouped by columns of ``lost_hourly``.

    ``group_by`` and ``where`` keys among device_id, hour, type, app (the raw
    application name), site, department, os; a ``where`` value may be a list.
    Each row has the group columns, ``lost_s`` and ``disruptions``. ``start``
    and ``end`` are rounded up to whole hours. Run :func:`refresh` first for
    figures that include the last few seconds of ingest.
    """
    t = lost_hourly_table
    return _grouped(bind, t, _LOST_COLUMNS, {"lost_s": sa.func.coalesce(sa.func.sum(t.c.lost_s), 0.0),
                                            "disruptions": sa.func.coalesce(sa.func.sum(t.c.disruptions), 0)},
                    start, end, group_by, where)


def active_by(bind: Engine | Connection, start: float, end: float, group_by: Iterable[str] = (),
              where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Active seconds in the hours ``[start, end)`` grouped by device_id, hour, site, department or os."""
    t = active_hourly_table
    return _grouped(bind, t, _ACTIVE_COLUMNS, {"active_s": sa.func.coalesce(sa.func.sum(t.c.active_s), 0.0)},
                    start, end, group_by, where)


def week_window(now: float) -> tuple[int, int]:
    """The trailing week of the gauges: the 7 UTC days ending with today, as ``[start, end)``."""
    today = _day(now)
    return today - 6 * DAY, today + DAY


def app_active_by(bind: Engine | Connection, start: float, end: float) -> dict[str, float]:
    """Per app label: active seconds of the devices on the days they reported that app (score denominator).

    Day granularity: ``start`` and ``end`` are rounded up to whole UTC days.
    """
    t = app_active_daily_table.c
    stmt = (sa.select(t.app, sa.func.sum(t.active_s)).where(t.day >= _ceil(start, DAY), t.day < _ceil(end, DAY))
            .group_by(t.app))
    with _connection(bind) as conn:
        return {app: float(v) for app, v in conn.execute(stmt)}
