"""Reading the impact model's figures: the one reader of the tables :mod:`.marks` and :mod:`.refresh` keep.

The weekly report and the API read through these functions, and never write.
Each groups in SQL and returns plain tuples: the group columns in the order
asked for, then the sums in the order each function names them (plain tuples
rather than SQLAlchemy rows: a report reads about a hundred thousand of them,
and rows cost a third of its time). They read what the refresher has computed so far: run
:func:`.refresh.refresh` first where the last seconds of ingest must count,
and :func:`pending` says how far the figures lag behind.

Time ranges ``[start, end)`` are rounded up to whole hours (hourly tables) or
UTC days (daily tables), the tables' own granularity.

The lost-time readers take ``model``, the impact model version to show the
figures under: version 1 is version 2 without the support cause's types
(:func:`collector.impact.types_of`), so either is one filter on the same rows.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import impact
from collector.aggregates import DAY, HOUR, RECENT_S, model_name
from collector.db import is_sqlite
from collector.models import network_daily_table
from collector.models import (
    active_hourly_table, app_active_daily_table, app_focus_daily_table, device_table, event_table, impact_dirty_table, lost_hourly_table, lost_rollup_table, outage_daily_table,
    recent_disruption_table, version_daily_table,
)
from contract.events import EXCESS_S, ROUTINE_TYPES

_VALUES = {"lost_s", "active_s", "impacted_s", "disruptions", "outages", "seconds", "count", "focus_s"}  # summed, never grouped by
_SEP = "\x1f"  # ends each application name in the list of distinct names (SQLite's separator is always ",")


def lost_by(conn: Connection, start: float, end: float, group_by: Sequence[str] = (),
            where: dict[str, Any] | None = None, apps_of: Iterable[str] = (),
            model: str = impact.MODEL_VERSION) -> list[tuple]:
    """Lost seconds and disruptions of each device-hour in ``[start, end)``, grouped (``lost_hourly``).

    ``group_by`` and ``where`` keys among device_id, hour, type, app (the raw
    application name), site, department, os; a ``where`` value may be a list.
    Each row is the group columns, ``lost_s`` and ``disruptions`` (events that
    started in the range); with ``apps_of`` (event types), then the raw
    applications with disruptions of those types in the group, as one text
    that :func:`split_apps` turns into a list (a report reads about a hundred
    thousand of these groups: it splits only those it needs). ``model``: the
    model version whose types count.
    """
    t = lost_hourly_table
    sums = [sa.func.coalesce(sa.func.sum(t.c.lost_s), 0.0).label("lost_s"),
            sa.func.coalesce(sa.func.sum(t.c.disruptions), 0).label("disruptions")]
    apps_of = list(apps_of)
    if apps_of:
        named = sa.distinct(sa.case((sa.and_(t.c.disruptions > 0, t.c.type.in_(apps_of)), t.c.app.concat(_SEP))))
        sums.append((sa.func.group_concat(named) if is_sqlite(conn) else sa.func.string_agg(named, ",")).label("apps"))
    return _grouped(conn, t, "hour", HOUR, start, end, group_by, _of_model(where, model), sums)


def _of_model(where: dict[str, Any] | None, model: str) -> dict[str, Any] | None:
    """``where`` restricted to the event types model version ``model`` counts."""
    types = impact.types_of(model)
    if types == impact.PRIORITY:
        return where
    asked = (where or {}).get("type", types)
    asked = [asked] if isinstance(asked, str) else asked
    return {**(where or {}), "type": [t for t in asked if t in types]}


def split_apps(apps: str | None) -> list[str]:
    """The applications in the ``apps`` column of a :func:`lost_by` row."""
    return apps[:-len(_SEP)].split(_SEP + ",") if apps else []


def active_by(conn: Connection, start: float, end: float, group_by: Sequence[str] = (),
              where: dict[str, Any] | None = None) -> list[tuple]:
    """Employee-active seconds (``active_s``) of each device-hour in ``[start, end)`` and those of the impacted
    device-hours (``impacted_s``, model rule 7), grouped by device_id, hour, site, department or os
    (``active_hourly``)."""
    t = active_hourly_table
    return _grouped(conn, t, "hour", HOUR, start, end, group_by, where,
                    [sa.func.coalesce(sa.func.sum(t.c.active_s), 0.0).label("active_s"),
                     sa.func.coalesce(sa.func.sum(t.c.impacted_s), 0.0).label("impacted_s")])


def app_active_by(conn: Connection, start: float, end: float) -> list[tuple]:
    """Per app label, the active seconds of the devices on the UTC days of ``[start, end)`` they reported it
    (``active_s``) and those of the device-hours its own lost time impacted (``impacted_s``): what the application
    score divides (``app_active_daily``)."""
    t = app_active_daily_table
    return _grouped(conn, t, "day", DAY, start, end, ["app"], None,
                    [sa.func.coalesce(sa.func.sum(t.c.active_s), 0.0).label("active_s"),
                     sa.func.coalesce(sa.func.sum(t.c.impacted_s), 0.0).label("impacted_s")])


def lost_by_label(conn: Connection, start: float, end: float, group_by: Sequence[str] = (),
                  where: dict[str, Any] | None = None, model: str = impact.MODEL_VERSION) -> list[tuple]:
    """Lost seconds and disruptions by label set in ``[start, end)`` (``lost_rollup``: app is the application's
    label when the hour was first rolled up: catalogued name, discovered executable or ``other``), grouped by
    hour, type, app, site or department, under model version
    ``model``."""
    t = lost_rollup_table
    return _grouped(conn, t, "hour", HOUR, start, end, group_by, _of_model(where, model),
                    [sa.func.coalesce(sa.func.sum(t.c.lost_s), 0.0).label("lost_s"),
                     sa.func.coalesce(sa.func.sum(t.c.disruptions), 0).label("disruptions")])


def focus_by(conn: Connection, start: float, end: float, group_by: Sequence[str] = (),
             where: dict[str, Any] | None = None) -> list[tuple]:
    """Counted application focus seconds (``focus_s``) of the periods that started in ``[start, end)`` (to the UTC
    day), grouped by day, app (the label: catalogued name or ``other``), site or department (``app_focus_daily``)."""
    t = app_focus_daily_table
    return _grouped(conn, t, "day", DAY, start, end, group_by, where,
                    [sa.func.coalesce(sa.func.sum(t.c.focus_s), 0.0).label("focus_s")])


def outages_by_device(conn: Connection, start: float, end: float) -> list[tuple]:
    """Connectivity outages that started in ``[start, end)``, per device and cause (the agents' causes, else
    ``other``): ``outages`` and their offline ``seconds`` up to the end of the ISO week they started in."""
    t = outage_daily_table
    return _grouped(conn, t, "day", DAY, start, end, ["device_id", "cause"], None,
                    [sa.func.sum(t.c.outages).label("outages"), sa.func.sum(t.c.seconds).label("seconds")])


def network_by_device(conn: Connection, start: float, end: float) -> list[tuple]:
    """Network quality of ``[start, end)`` (to the UTC day) per device, measure and label (``network_daily``):
    outages by interface kind, active seconds per Wi-Fi signal band, blips; their ``count`` and ``seconds``."""
    t = network_daily_table
    return _grouped(conn, t, "day", DAY, start, end, ["device_id", "measure", "label"], None,
                    [sa.func.sum(t.c["count"]).label("count"), sa.func.sum(t.c.seconds).label("seconds")])


def versions(conn: Connection, start: float, end: float, types: Iterable[str], apps: Iterable[str]) -> list[tuple]:
    """Disruptions of ``types`` that started in ``[start, end)`` per application of ``apps`` and version reported
    in their details (``disruptions``)."""
    t = version_daily_table
    return _grouped(conn, t, "day", DAY, start, end, ["app", "version"], {"type": list(types), "app": list(apps)},
                    [sa.func.sum(t.c.count).label("disruptions")])


def known_devices(conn: Connection, start: float, end: float) -> set[str]:
    """The devices registered before ``end`` and seen within four weeks before ``start`` or later."""
    d = device_table.c
    return set(conn.execute(sa.select(d.id).where(d.first_seen < end, d.last_seen >= start - 28 * DAY)).scalars())


def cohorts(conn: Connection) -> list[tuple[str, str, str, str, int]]:
    """(device, hardware model as :func:`collector.aggregates.model_name` names it, OS build, CPU class, memory
    bytes) of every device: its cohort as its latest heartbeat gives it."""
    d = device_table.c
    rows = conn.execute(sa.select(d.id, d.hw_vendor, d.hw_model, d.os_build, d.cpu_class, d.memory_bytes))
    return [(dev, model_name(vendor, model), build, cpu, int(memory or 0))
            for dev, vendor, model, build, cpu, memory in rows]


def waits(conn: Connection, start: float, end: float) -> list[tuple[str, str, float, float]]:
    """(device, type, seconds waited, seconds beyond the threshold) of every routine measurement (each boot, each
    sign-in: ``contract.events.ROUTINE_TYPES``) that started in ``[start, end)``, read from the events (index
    ``ix_event_type_start``)."""
    e = event_table.c
    rows = conn.execute(sa.select(e.device_id, e.type, e.duration_s, sa.cast(e.details, sa.Text)).where(
        e.type.in_(ROUTINE_TYPES), e.start >= start, e.start < end))
    out = []
    for dev, etype, seconds, details in rows.cursor.fetchall():
        excess = msgspec.json.decode(details).get(EXCESS_S) if EXCESS_S in details else None
        out.append((dev, etype, float(seconds), impact.excess_of(excess, seconds) or 0.0))
    return out


def devices_disrupted(conn: Connection, now: float) -> list[tuple[str, str, int]]:
    """(type, site, devices) with a disruption going on or started in the last ``RECENT_S`` seconds."""
    t = recent_disruption_table.c
    return [tuple(r) for r in conn.execute(
        sa.select(t.type, t.site, sa.func.count()).where(t.end >= now - RECENT_S).group_by(t.type, t.site))]


def pending(conn: Connection) -> int:
    """Device-days waiting to be recomputed (how far the figures lag behind ingest)."""
    return conn.execute(sa.select(sa.func.count()).select_from(impact_dirty_table)).scalar_one()


def _grouped(conn: Connection, table: sa.Table, time_column: str, step: int, start: float, end: float,
             group_by: Sequence[str], where: dict[str, Any] | None, sums: list) -> list[tuple]:
    """``sums`` over the rows of ``[start, end)`` (rounded up to ``step``), grouped in SQL."""
    group_by = list(group_by)
    allowed = [c.name for c in table.c if c.name not in _VALUES]
    for name in [*group_by, *(where or {})]:
        if name not in allowed:
            raise ValueError(f"cannot group or filter {table.name} by {name!r}; use {', '.join(allowed)}")
    cols = [table.c[g] for g in group_by]
    moment = table.c[time_column]
    stmt = sa.select(*cols, *sums).where(moment >= _ceil(start, step), moment < _ceil(end, step))
    if "device_id" in group_by:  # spelled as a subquery, so the scans seek each device's rows in the
        stmt = stmt.where(table.c.device_id.in_(sa.select(device_table.c.id)))  # (device, ...) indexes
    for name, value in (where or {}).items():
        column = table.c[name]
        stmt = stmt.where(column.in_(list(value)) if isinstance(value, (list, tuple, set)) else column == value)
    if cols:
        stmt = stmt.group_by(*cols).order_by(*cols)
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _ceil(t: float, step: int) -> int:
    return int(math.ceil(t / step) * step)
