"""The refresher: recompute the dirty device-days from the stored events, heartbeats and service-desk tickets.

:func:`refresh` runs every :data:`REFRESH_EVERY_S` seconds in every collector
process (and wherever figures must be current: tests, benchmarks, ``hinder
report weekly --db``). It claims dirty device-days marked by :mod:`.marks`,
recomputes their hours with :func:`collector.impact.device_hours`, replaces the
device's hourly rows and applies the difference to the label rollups, the
trailing-week sums and the all-time totals. Safe in several processes at once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from collector import impact
from collector.aggregates import HOUR, MAX_HEARTBEAT_S, RECENT_S, app_label, day_start, discover, model_config, week_window
from collector.aggregates.marks import add_to_totals, support_ticket
from collector.config import CollectorConfig
from collector.db import add_up, is_sqlite, write_transaction
from collector.models import (
    active_daily_table, active_hourly_table, active_week_table, app_active_daily_table, app_active_week_table,
    app_lost_daily_table, app_lost_week_table, device_daily_table, device_table, device_week_table, event_table,
    heartbeat_table, impact_dirty_table, lost_daily_table,
    lost_hourly_table, lost_rollup_table, lost_week_table, recent_disruption_table, support_ticket_table,
    week_state_table,
)
from contract.events import EXCESS_S
from contract.records import MAX_DURATION_S

REFRESH_EVERY_S = 5.0  # how often each collector process runs refresh() in the background
# A refresh transaction commits once it has spent this long (ingest waits for the write lock meanwhile), after
# recomputing device-days this many devices at a time; with collector.quota, one such step is bounded too.
TRANSACTION_S = 1.0
_DEVICES_AT_ONCE = 25
_PAUSE_S = 0.1  # between transactions that ran out of time: SQLite's busy handler retries at most every 100 ms


def refresh(engine: Engine, config: CollectorConfig, batch_size: int = 200, max_batches: int | None = None,
            now: float | None = None, transaction_s: float = TRANSACTION_S) -> int:
    """Recompute dirty device-days until none is left (or ``max_batches``); return how many were done.

    Also moves the trailing week forward, forgets old recent disruptions and chooses the discovered applications
    (:func:`collector.aggregates.discover.rediscover`, from the lost time of the rounds before).
    Safe to run in several processes at once. Device-days another replica is
    recomputing right now are skipped, not waited for. Each transaction claims
    up to ``batch_size`` device-days and commits once it has spent
    ``transaction_s`` on them (at least :data:`_DEVICES_AT_ONCE` are done), so
    ingest never waits long for the write lock; the rest are claimed again.
    """
    now = time.time() if now is None else now
    with write_transaction(engine) as conn:
        # ended long enough ago, or ending beyond any record's reach (stored before the collector's window was
        # enforced, it would show its device as disrupted for ever)
        rd = recent_disruption_table.c
        conn.execute(recent_disruption_table.delete().where(
            sa.or_(rd.end < now - RECENT_S, rd.end > now + config.collector.max_future_s)))
        _roll_week(conn, now)
    with engine.connect() as conn:  # read first: the write lock only when the set changes (rarely)
        settled = discover.settled(conn, config, now)
    if not settled:
        with write_transaction(engine) as conn:  # alone: it holds the lock ingest's admission takes (no lock cycle)
            discover.rediscover(conn, config, now)
    done = 0
    rounds = 0
    while max_batches is None or rounds < max_batches:
        with write_transaction(engine) as conn:
            claimed, n = _refresh_claimed(conn, config, batch_size, now, time.monotonic() + transaction_s)
        done += n
        rounds += 1
        if n < claimed:  # out of time: let a batch waiting for the write lock in (SQLite's busy handler polls it)
            time.sleep(_PAUSE_S)
        elif claimed < batch_size:
            break
    return done


def _refresh_claimed(conn: Connection, config: CollectorConfig, limit: int, now: float,
                     deadline: float) -> tuple[int, int]:
    """Claim up to ``limit`` dirty device-days and recompute them until ``deadline`` (monotonic); return how many
    were claimed and how many recomputed (the others stay dirty)."""
    d = impact_dirty_table.c
    claim = sa.select(d.device_id, d.day, d.generation, d.first_hour, d.last_hour).order_by(d.day, d.device_id)
    claim = claim.limit(limit)
    if not is_sqlite(conn):
        claim = claim.with_for_update(skip_locked=True)
    claimed = conn.execute(claim).all()
    if not claimed:
        return 0, 0
    cfg = model_config(config)
    row_of = {(row.device_id, row.first_hour, row.last_hour + HOUR): row for row in claimed}
    devices_of: dict[tuple[int, int], list[str]] = defaultdict(list)  # window [lo, hi) -> devices
    for dev_id, lo, hi in row_of:
        devices_of[(lo, hi)].append(dev_id)
    dc = device_table.c
    device_labels = {r[0]: tuple(r[1:]) for r in conn.execute(
        sa.select(dc.id, dc.site, dc.department, dc.os).where(dc.id.in_({row[0] for row in claimed})))}
    contributions = _Contributions(config)
    labels = discover.AppLabels(config, discover.read(conn))
    new_lost: list[dict] = []
    new_active: list[dict] = []
    done = []
    chunks = [(lo, hi, devices[at:at + _DEVICES_AT_ONCE])
              for (lo, hi), devices in devices_of.items() for at in range(0, len(devices), _DEVICES_AT_ONCE)]
    for lo, hi, some in chunks:
        old_lost, old_active = _stored_rows(conn, some, lo, hi)
        for dev_id, hours in _compute_window(conn, cfg, some, lo, hi).items():
            lost, active = _hourly_rows(dev_id, device_labels.get(dev_id, ("unknown",) * 3), hours,
                                        cfg.impacted_hour_lost_s)
            _label(config, labels, old_lost[dev_id], lost)
            contributions.add(old_lost[dev_id], old_active[dev_id], -1)
            contributions.add(lost, active, +1)
            new_lost += lost
            new_active += active
        done += [row_of[(dev_id, lo, hi)] for dev_id in some]
        if time.monotonic() > deadline:
            break
    spans = [{"dev": dev_id, "lo": first, "hi": last + HOUR} for dev_id, _day, _gen, first, last in done]
    conn.execute(_STMT["delete_lost"], spans)
    conn.execute(_STMT["delete_active"], spans)
    if new_lost:
        conn.execute(lost_hourly_table.insert(), new_lost)
    if new_active:
        conn.execute(active_hourly_table.insert(), new_active)
    contributions.apply(conn, now)
    conn.execute(_STMT["delete_dirty"], [{"dev": dev_id, "day": day, "gen": gen}
                                         for dev_id, day, gen, _first, _last in done])
    return len(claimed), len(done)


def _statements() -> dict[str, Any]:
    """The refresher's statements, built once (building SQLAlchemy expressions costs more than running them)."""
    e, h, lh, ah, d = event_table.c, heartbeat_table.c, lost_hourly_table.c, active_hourly_table.c, impact_dirty_table.c
    t = support_ticket_table.c
    devs = sa.bindparam("devs", expanding=True)
    dev, lo, hi = sa.bindparam("dev"), sa.bindparam("lo"), sa.bindparam("hi")
    events = sa.select(e.device_id, e.id, e.type, e.app, e.start, e.duration_s, e.active_s,
                       sa.cast(e.details, sa.Text).label("details"))  # JSON text: parsed only if needed
    return {
        "events": events.where(e.device_id.in_(devs), e.start >= sa.bindparam("oldest"), e.start < hi, e.end >= lo),
        "sessions": events.where(e.device_id.in_(devs), e.type == impact.SESSION, e.start >= lo, e.start <= hi),
        "tickets": sa.select(t.device_id, t.source, t.ticket_id, t.channel, t.opened_at, t.resolved_at,
                             t.work_stopping).where(t.device_id.in_(devs), t.opened_at >= lo, t.opened_at < hi),
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
    """The model's figures for the hours ``[lo, hi)`` of some devices, from their stored events, heartbeats and
    the tickets joined to them (with the support sessions that may be a remote ticket's contact)."""
    reach = cfg.reach_s
    events: dict[str, list[impact.Disruption]] = {dev: [] for dev in devices}
    for r in conn.execute(_STMT["events"], {"devs": devices, "oldest": lo - MAX_DURATION_S, "hi": hi,
                                            "lo": lo - reach}).mappings():
        events[r["device_id"]].append(to_disruption(r))
    tickets: dict[str, list[impact.SupportTicket]] = {dev: [] for dev in devices}
    for r in conn.execute(_STMT["tickets"], {"devs": devices, "lo": lo - cfg.ticket_reach_s, "hi": hi}).mappings():
        tickets[r["device_id"]].append(support_ticket(r))
    # heartbeats: those around the window, the events reaching into it, and the start of a ticket whose contact
    # does (its active fraction); a ticket's wait counts only the heartbeats in the window
    since = min([lo - reach, *(ev.start - reach for evs in events.values() for ev in evs),
                 *(tk.opened_at - reach for tks in tickets.values() for tk in tks
                   if tk.opened_at + cfg.contact_s(tk.channel) > lo)])
    remote = [tk for tks in tickets.values() for tk in tks if tk.channel == "remote"]
    if remote:  # the sessions that are a remote ticket's contact, wherever they are (they reach the window if loaded)
        known = {ev.id for evs in events.values() for ev in evs}
        for r in conn.execute(_STMT["sessions"], {"devs": devices, "lo": min(tk.opened_at for tk in remote),
                                                  "hi": max(tk.horizon(cfg) for tk in remote)}).mappings():
            if r["id"] not in known:
                events[r["device_id"]].append(to_disruption(r))
    heartbeats: dict[str, list[impact.Interval]] = {dev: [] for dev in devices}
    for dev, t, interval, active in conn.execute(
            _STMT["heartbeats"], {"devs": devices, "lo": since, "hi": hi + MAX_HEARTBEAT_S}):
        heartbeats[dev].append(impact.Interval(end=t, interval_s=interval, active_s=active))
    return {dev: impact.device_hours(events[dev], heartbeats[dev], cfg, window=(lo, hi), tickets=tickets[dev])
            for dev in devices}


def _stored_rows(conn: Connection, devices: list[str], lo: int,
                 hi: int) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """The devices' current hourly rows of the hours ``[lo, hi)``, by device."""
    params = {"devs": devices, "lo": lo, "hi": hi}
    out: tuple[dict, dict] = (defaultdict(list), defaultdict(list))
    for i, stmt in enumerate((_STMT["old_lost"], _STMT["old_active"])):
        for r in conn.execute(stmt, params).mappings():
            out[i][r["device_id"]].append(dict(r))
    return out


def _label(config: CollectorConfig, labels: discover.AppLabels, old: list[dict], new: list[dict]) -> None:
    """Set the app label of a device's recomputed ``lost_hourly`` rows: that of the same (hour, type, app) row
    when it was first rolled up (a label is decided once: collector.aggregates.discover), else today's; a row
    from before migration 20 reads as the catalogue's label."""
    kept = {}
    for r in old:
        r["label"] = r["label"] or app_label(config, r["type"], r["app"])
        kept[(r["hour"], r["type"], r["app"])] = r["label"]
    for r in new:
        r["label"] = kept.get((r["hour"], r["type"], r["app"])) or labels.label(r["type"], r["app"])


def _hourly_rows(dev_id: str, labels: tuple[str, str, str], hours: impact.DeviceHours,
                 threshold_s: float) -> tuple[list[dict], list[dict]]:
    """The ``lost_hourly`` and ``active_hourly`` rows of one device's figures; labels are (site, department, os),
    ``threshold_s`` the lost seconds that make an hour impacted (model rule 7)."""
    site, department, os_name = labels
    lost = [{"device_id": dev_id, "hour": h, "type": t, "app": a, "site": site, "department": department, "os": os_name,
             "lost_s": hours.lost.get((h, t, a), 0.0), "disruptions": hours.disruptions.get((h, t, a), 0)}
            for (h, t, a) in sorted(set(hours.lost) | set(hours.disruptions))]
    impacted = impact.impacted_active(hours.lost_by_hour(), hours.active, threshold_s)
    active = [{"device_id": dev_id, "hour": h, "site": site, "department": department, "os": os_name, "active_s": v,
               "impacted_s": impacted.get(h, 0.0)} for h, v in sorted(hours.active.items()) if v > 0]
    return lost, active


# (daily table, its trailing-week sums, their label columns, the values summed)
_DAILY_AND_WEEK = (
    (lost_daily_table, lost_week_table, ["type", "app", "site", "department"], ["lost_s"]),
    (active_daily_table, active_week_table, ["site", "department"], ["active_s", "impacted_s"]),
    (app_active_daily_table, app_active_week_table, ["app"], ["active_s", "impacted_s"]),
    # per device (grouped by cohort on /metrics)
    (device_daily_table, device_week_table, ["device_id"], ["lost_s", "active_s", "disruptions"]),
    (app_lost_daily_table, app_lost_week_table, ["app"], ["lost_s"]),  # by raw name: what discovery weighs
)


class _Contributions:
    """Differences to apply to the rollups and totals, summed over a refresh round."""

    def __init__(self, config: CollectorConfig):
        self.config = config
        self.threshold_s = model_config(config).impacted_hour_lost_s
        self.lost: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0])
        self.lost_daily: dict[tuple, list[float]] = defaultdict(lambda: [0.0])
        self.active: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])  # active, impacted seconds
        self.app_active: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.totals: dict[tuple, float] = defaultdict(float)
        # (day, device) -> the device's lost seconds, active seconds, disruptions
        self.device: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        self.raw_app_lost: dict[tuple, list[float]] = defaultdict(lambda: [0.0])  # (day, raw app name)

    def add(self, lost_rows: list[dict], active_rows: list[dict], sign: int) -> None:
        """Add (sign +1) or remove (-1) one device-day's rows (their app labelled: ``_label``)."""
        app_lost: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))  # app label -> hour -> s
        for r in lost_rows:
            if r["type"] != impact.TICKET:  # applications, not channels
                app_lost[r["label"]][r["hour"]] += r["lost_s"]
        for r in lost_rows:
            key = (r["hour"], r["type"], r["label"], r["site"], r["department"])
            if r["type"] in discover.APP_TYPES:
                self.raw_app_lost[(day_start(r["hour"]), r["app"])][0] += sign * r["lost_s"]
            acc = self.lost[key]
            acc[0] += sign * r["lost_s"]
            acc[1] += sign * r["disruptions"]
            self.lost_daily[(day_start(r["hour"]),) + key[1:]][0] += sign * r["lost_s"]
            self.totals[("lost",) + key[1:]] += sign * r["lost_s"]
            self.device[(day_start(r["hour"]), r["device_id"])][0] += sign * r["lost_s"]
            self.device[(day_start(r["hour"]), r["device_id"])][2] += sign * r["disruptions"]
        active = {r["hour"]: r["active_s"] for r in active_rows}
        for r in active_rows:
            day = day_start(r["hour"])
            acc = self.active[(day, r["site"], r["department"])]
            acc[0] += sign * r["active_s"]
            acc[1] += sign * r["impacted_s"]
            self.totals[("active", "", "", r["site"], r["department"])] += sign * r["active_s"]
            self.device[(day, r["device_id"])][1] += sign * r["active_s"]
            self.totals[("impacted", "", "", r["site"], r["department"])] += sign * r["impacted_s"]
            for app in app_lost:
                self.app_active[(day, app)][0] += sign * r["active_s"]
        for app, by_hour in app_lost.items():  # the hours the app's own lost time impacted (model rule 7)
            for h, v in impact.impacted_active(by_hour, active, self.threshold_s).items():
                self.app_active[(day_start(h), app)][1] += sign * v

    def apply(self, conn: Connection, now: float) -> None:
        """Upsert the differences, in key order (concurrent refreshers then lock rows in one order)."""
        add_up(conn, lost_rollup_table, ["hour", "type", "app", "site", "department"], ["lost_s", "disruptions"],
               [(k, v) for k, v in self.lost.items() if v[0] or v[1]])
        first_day = _roll_week(conn, now)
        for (daily, week, keys, values), deltas in zip(_DAILY_AND_WEEK, (self.lost_daily, self.active, self.app_active,
                                                                       self.device, self.raw_app_lost)):
            add_up(conn, daily, ["day", *keys], values, [(k, v) for k, v in deltas.items() if any(v)])
            in_week: dict[tuple, list[float]] = defaultdict(lambda: [0.0] * len(values))
            for k, v in deltas.items():
                if k[0] >= first_day:
                    in_week[k[1:]] = [a + b for a, b in zip(in_week[k[1:]], v)]
            add_up(conn, week, keys, values, [(k, v) for k, v in in_week.items() if any(v)])
        add_to_totals(conn, self.totals.items())


def _roll_week(conn: Connection, now: float) -> int:
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
    for daily, week, keys, values in _DAILY_AND_WEEK:
        cols = [daily.c[k] for k in keys]
        expired = conn.execute(sa.select(*cols, *(sa.func.sum(daily.c[v]) for v in values)).where(
            daily.c.day >= first_day, daily.c.day < target).group_by(*cols))
        add_up(conn, week, keys, values, [(tuple(r[:len(keys)]), [-x for x in r[len(keys):]])
                                          for r in expired if any(r[len(keys):])])
    conn.execute(week_state_table.update().where(ws.id == 1).values(first_day=target))
    return target


def to_disruption(row: Any) -> impact.Disruption:
    """The model's view of an event row or wire event (``details.excess_s`` when it is a number).

    ``details`` is a dict or its JSON text; it is read only for the types whose cost is their excess time.
    """
    excess = None
    if row["type"] in impact.EXCESS_TYPES:
        details = row["details"] or {}
        excess = (msgspec.json.decode(details) if isinstance(details, str) else details).get(EXCESS_S)
        excess = impact.excess_of(excess, row["duration_s"])
    return impact.Disruption(id=row["id"], type=row["type"], app=row["app"], start=row["start"],
                             duration_s=row["duration_s"], active_s=row["active_s"], excess_s=excess)
