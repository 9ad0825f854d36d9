"""At ingest: mark what the new records can change, and count what is counted when it arrives.

:func:`on_ingest` is the hook the collector gives its
:class:`~collector.ingest.Ingestor`; it runs inside the ingest transaction and
sees only the records stored for the first time (so a retried batch counts
nothing twice). It marks dirty device-hours for :mod:`.refresh` and keeps the
counts /metrics and the report read without recomputing: disruptions by label
and application version (all time), outages by cause (all time, and per day
for the report), versions per day, each device's latest disruption per
type (for "devices disrupted now"), the counted application focus time
(per day for the report, all time for /metrics), the waits of boots and
sign-ins by cohort and duration bucket (the histograms of /metrics), and
network quality (:mod:`.network`). A boot or sign-in within its threshold is
a measurement, not a disruption (:func:`disruptions_of`): it is counted only
among the waits. It records the application versions and OS builds each
device shows (:func:`.changes.record`).

:func:`on_tickets` does the marking for service-desk tickets:
:func:`collector.support.store.store_tickets` calls it on what it changed.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter, defaultdict
from itertools import repeat
from operator import add, floordiv, methodcaller
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import impact
from collector.aggregates import (
    DAY, HOUR, OTHER, RECENT_S, UNKNOWN_VERSION, changes, day_start, discover, model_config, model_name, network,
    week_end,
)
from collector.aggregates import app_version as _version
from collector.columns import Columns
from collector.db import add_up, insert, prepared
from collector.ingest import IngestedBatch
from collector.models import (
    app_focus_daily_table, app_version_count_table, disruption_count_table, event_table, impact_dirty_table,
    impact_total_table, outage_count_table, outage_daily_table, recent_disruption_table, support_ticket_table,
    version_daily_table, wait_count_table,
)
from contract.events import APP_VERSION, CAUSE, CONNECTIVITY_CAUSES, EXCESS_S, ROUTINE_TYPES, is_disruption
from contract.records import MAX_DURATION_S

MAX_MARKED_S = 400 * DAY  # the longest span one call of _mark marks (see there); the contract's are far shorter
OUTAGE = "connectivity_loss"  # the type whose causes are counted


def on_ingest(conn: Connection, batch: IngestedBatch) -> None:
    """The ingest hook: mark the device-hours the new records can change, and count what is counted on arrival."""
    _mark_dirty(conn, batch)
    _count_on_arrival(conn, batch)
    _count_waits(conn, batch)
    _count_focus(conn, batch)
    network.count(conn, batch)
    changes.record(conn, batch)


def _mark_dirty(conn: Connection, batch: IngestedBatch) -> None:
    """Mark the device-hours the new records can change in ``impact_dirty``."""
    reach = model_config(batch.config).reach_s
    hours: dict[int, list[int]] = {}  # day -> [first hour, last hour] to recompute
    events = batch.events
    starts, durations = events["start"], events["duration_s"]
    if starts:
        # From the first start to the last reach: a superset of impact.event_span's hours (recomputing hours
        # between two days of a backlog is harmless, and whole-column min/max is what ingest can afford).
        ends = list(map(add, starts, durations))
        for i in [i for i, t in enumerate(events["type"]) if t in impact.EXCESS_TYPES]:  # slow beyond their run
            excess = impact.excess_of(events["details"][i].get(EXCESS_S), durations[i])
            if excess is not None and excess > durations[i]:
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
    sessions = [starts[i] for i, t in enumerate(events["type"]) if t == impact.SESSION]
    if sessions:  # a session replaces the default contact of the remote tickets it falls in, and moves their wait
        cfg = model_config(batch.config)
        for ticket in _remote_tickets(conn, dev_id, min(sessions), max(sessions), cfg.ticket_reach_s):
            if any(ticket.opened_at <= t <= ticket.horizon(cfg) for t in sessions):
                _mark(hours, *impact.ticket_span(ticket, cfg))
    _write_marks(conn, {dev_id: hours})


def on_tickets(conn: Connection, changed: list[tuple[dict | None, dict]],
               model: impact.ModelConfig | None = None) -> None:
    """Mark the device-days the stored tickets' spans touch, before and after the change (a ticket that moved
    device, changed times or channel unmarks its old hours too).

    ``changed`` is :attr:`collector.support.store.Stored.changed`. Without the
    ``[model]`` settings (``model``), each span is the widest any configuration
    allows. Spans are bounded (``collector.support.tickets.problem`` keeps times
    within the collector's clock, the settings keep contact and wait within
    ``impact.MAX_CONTACT_S`` and ``impact.MAX_WAIT_CAP_S``).
    """
    hours_of: dict[str, dict[int, list[int]]] = defaultdict(dict)  # device -> its marked hours
    for row in (r for pair in changed for r in pair if r is not None and r["device_id"]):
        _mark(hours_of[row["device_id"]], *impact.ticket_span(support_ticket(row), model))
    _write_marks(conn, hours_of)


def support_ticket(row: Any) -> impact.SupportTicket:
    """The model's view of a ``support_ticket`` row."""
    return impact.SupportTicket(id=f"{row['source']}/{row['ticket_id']}", channel=row["channel"],
                                opened_at=row["opened_at"], resolved_at=row["resolved_at"],
                                work_stopping=bool(row["work_stopping"]))


def _remote_tickets(conn: Connection, dev_id: str, first: float, last: float,
                    reach: float) -> list[impact.SupportTicket]:
    """A device's remote tickets whose life (:meth:`impact.SupportTicket.horizon`) can hold ``[first, last]``."""
    t = support_ticket_table.c
    rows = conn.execute(sa.select(t.source, t.ticket_id, t.channel, t.opened_at, t.resolved_at, t.work_stopping).where(
        t.device_id == dev_id, t.channel == "remote", t.opened_at <= last,
        sa.or_(t.resolved_at >= first, t.resolved_at.is_(None) & (t.opened_at >= first - reach)))).mappings()
    return [support_ticket(r) for r in rows]


def _write_marks(conn: Connection, hours_of: dict[str, dict[int, list[int]]]) -> None:
    """Upsert the marked hours (device -> UTC day -> [first hour, last hour]) into ``impact_dirty``."""
    rows = [{"device_id": dev_id, "day": d, "generation": 1, "first_hour": lo, "last_hour": hi}
            for dev_id, hours in sorted(hours_of.items()) for d, (lo, hi) in sorted(hours.items())]
    if rows:
        conn.execute(prepared(conn, _mark_hours), rows)


def _mark(hours: dict[int, list[int]], s: float, e: float) -> None:
    """Add the hours of ``[s, e]`` to ``hours`` (UTC day -> [first hour, last hour] of that day).

    The caller's spans are bounded by the contract: record times within the
    collector's window, durations and ``excess_s`` within MAX_DURATION_S
    (``excess_s`` within the event's duration), so one batch marks at most
    ``(max_age_s + max_future_s + MAX_DURATION_S + reach) / DAY + 2`` days.
    A span beyond :data:`MAX_MARKED_S` (stored before those bounds, or a
    mistake) is cut there rather than marked day by day.
    """
    e = min(max(s, e), s + MAX_MARKED_S)
    first, last = impact.hour_start(s), impact.hour_start(e)
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


def _count_on_arrival(conn: Connection, batch: IngestedBatch) -> None:
    """Count what is counted when it arrives: disruptions by label and app version (all time, for /metrics),
    outages and app versions per day (for the report), recent disruptions."""
    dev = batch.device
    events = disruptions_of(batch.events)
    _note_recent(conn, batch.device, events, batch.received_at)
    counts = _Arrivals(dev["id"])
    counts.add(events)
    labels = _discover_arrivals(conn, batch, counts)
    disruptions: dict[tuple[str, str], int] = defaultdict(int)
    versions: dict[tuple[str, str, str], int] = defaultdict(int)
    for (_day, etype, app, version), n in counts.by_version.items():
        label = labels.label(etype, app)
        disruptions[(etype, label)] += n
        if label != OTHER:
            versions[(label, version or UNKNOWN_VERSION, etype)] += n
    add_up(conn, disruption_count_table, ["type", "app", "site", "department", "os"], ["count"],
           [((t, app, dev["site"], dev["department"], dev["os"]), (n,)) for (t, app), n in disruptions.items()])
    add_up(conn, outage_count_table, ["cause", "site", "department"], ["outages", "seconds"],
           [((c, dev["site"], dev["department"]), acc) for c, acc in counts.outages.items()])
    add_up(conn, app_version_count_table, ["app", "version", "type"], ["count"],
           [(k, (n,)) for k, n in versions.items()])
    _add_day_counts(conn, counts)


def disruptions_of(events: Columns) -> Columns:
    """The events that are disruptions: all but the routine measurements (boots, sign-ins) within their threshold
    (``contract.events.is_disruption``); they still count as measurements (:func:`_count_waits`)."""
    types = events["type"]
    if set(types).isdisjoint(ROUTINE_TYPES):
        return events
    details = events["details"]
    return events.take([i for i, t in enumerate(types) if is_disruption(t, details[i])])


def _discover_arrivals(conn: Connection, batch: IngestedBatch, counts: _Arrivals) -> discover.AppLabels:
    """The app labels to count the batch under, after discovering its new executables while there is room
    (collector.aggregates.discover): the first disruption of an unknown program is counted under its name."""
    labels = discover.current(conn, batch.config)
    if labels.room <= 0:
        return labels
    weights: dict[str, float] = defaultdict(float)
    for (_day, etype, app, _v), n in counts.by_version.items():
        if etype in discover.APP_TYPES and app not in labels.discovered and labels.discoverable(app):
            weights[app] += n
    return discover.admit(conn, labels, weights, batch.received_at) if weights else labels


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
        if list in set(map(type, versions)):  # a list is no version (and cannot be a key); the check runs in C
            versions = [None if type(v) is list else v for v in versions]
        # The version detail's class is part of the key, so that 1 and True (equal in Python) stay apart.
        raw = Counter(zip(map(floordiv, starts, repeat(DAY)), types, events["app"], versions, map(type, versions)))
        for (day, etype, app, version, _cls), n in raw.items():
            self.by_version[(int(day) * DAY, etype, app, _version(version))] += n
        for i in [i for i, t in enumerate(types) if t == OUTAGE]:
            start, duration, cause = starts[i], events["duration_s"][i], details[i].get(CAUSE)
            cause = cause if cause in CONNECTIVITY_CAUSES else OTHER
            acc = self.outages[cause]
            acc[0] += 1
            acc[1] += duration
            acc = self.outage_days[(day_start(start), self.device_id, cause)]
            acc[0] += 1
            acc[1] += min(start + duration, week_end(start)) - start


_APP_VERSION = methodcaller("get", APP_VERSION)


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
        total.add(disruptions_of(Columns.of([{**r, "details": r["details"] or {}} for r in group],
                                            ("type", "app", "start", "duration_s", "details"))))
    _add_day_counts(conn, total)


# The upper bounds of the buckets the waits of boots and sign-ins are counted in (seconds; the last catches all).
WAIT_BUCKETS_S = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, math.inf)


def _count_waits(conn: Connection, batch: IngestedBatch) -> None:
    """Count the waits of the routine measurements (each boot, each sign-in, within its threshold or not) by
    type, the device's cohort when they arrive and duration bucket: how many, their seconds, how many were slow
    (``details.excess_s`` > 0). The histograms of /metrics."""
    events = batch.events
    types = events["type"]
    if set(types).isdisjoint(ROUTINE_TYPES):
        return
    dev = batch.device
    model, build = model_name(dev["hw_vendor"], dev["hw_model"]), dev["os_build"]
    counts: dict[tuple, list] = defaultdict(lambda: [0, 0.0, 0])
    for etype, seconds, details in zip(types, events["duration_s"], events["details"]):
        if etype in ROUTINE_TYPES:
            acc = counts[(etype, model, build, WAIT_BUCKETS_S[bisect.bisect_left(WAIT_BUCKETS_S, seconds)])]
            acc[0] += 1
            acc[1] += seconds
            acc[2] += is_disruption(etype, details)
    add_up(conn, wait_count_table, ["type", "hw_model", "os_build", "le"], ["count", "seconds", "slow"],
           counts.items())


def _note_recent(conn: Connection, dev: dict, events: Columns, received_at: float) -> None:
    """Keep, per device and type, the latest end of a disruption that is recent enough to show as current."""
    cutoff = received_at - RECENT_S
    ends = map(add, events["start"], events["duration_s"])
    latest = dict(sorted((t, end) for t, end in zip(events["type"], ends) if end >= cutoff))  # max per type
    if not latest:
        return
    conn.execute(prepared(conn, _note_latest), [{"device_id": dev["id"], "type": ty, "site": dev["site"], "end": end}
                                                for ty, end in sorted(latest.items())])


def _note_latest(bind: Connection):
    t = recent_disruption_table
    stmt = insert(bind, t)
    return stmt.on_conflict_do_update(index_elements=["device_id", "type"], set_={
        "site": stmt.excluded.site, "end": sa.case((stmt.excluded.end > t.c.end, stmt.excluded.end), else_=t.c.end)})


def _count_focus(conn: Connection, batch: IngestedBatch) -> None:
    """Add the application focus the batch made count (``IngestedBatch.usage_added``) to its daily
    rollup and its all-time total, by app label (catalogued name or ``other``) and the device's labels."""
    if not batch.usage_added:
        return
    dev, app_label = batch.device, batch.config.app_label
    daily: dict[tuple, float] = defaultdict(float)
    for start, app, seconds in batch.usage_added:
        daily[(day_start(start), app_label(app), dev["site"], dev["department"])] += seconds
    add_up(conn, app_focus_daily_table, ["day", "app", "site", "department"], ["focus_s"],
           [(k, (v,)) for k, v in daily.items()])
    totals: dict[tuple, float] = defaultdict(float)
    for (_day, app, site, department), seconds in daily.items():
        totals[("focus", "", app, site, department)] += seconds
    add_to_totals(conn, totals.items())


def add_to_totals(conn: Connection, rows: Iterable[tuple[tuple, float]]) -> None:
    """Add seconds to the all-time counters of ``impact_total`` ((metric, type, app, site, department), seconds),
    moving each exported value up to its new value when it grows past it (a counter never goes down)."""
    rows = sorted((k, v) for k, v in rows if v)
    if not rows:
        return
    conn.execute(prepared(conn, _add_totals), [dict(zip(_TOTAL_KEYS, k), value=v, exported=max(v, 0.0))
                                               for k, v in rows])


_TOTAL_KEYS = ("metric", "type", "app", "site", "department")


def _add_totals(bind: Connection):
    t = impact_total_table
    stmt = insert(bind, t)
    grown = t.c.value + stmt.excluded.value
    return stmt.on_conflict_do_update(index_elements=list(_TOTAL_KEYS), set_={
        "value": grown, "exported": sa.case((grown > t.c.exported, grown), else_=t.c.exported)})
