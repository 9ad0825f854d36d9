"""Changes: a version of an application, or an OS build, new to the fleet, and what it did to the disruptions.

At ingest, :func:`record` (called by :func:`collector.aggregates.marks.on_ingest`, in the ingest transaction, on
the records stored for the first time) keeps per device each value it was seen with (``device_change``): from
when (its earliest record with the value) and what it had before. A value the collector saw first on a device is
its baseline; one it saw after another is a move. A value that at least ``[report] min_group_size`` devices moved
to is a change of the fleet (``change``), first seen at its earliest record. Bounds: a device keeps at most
:data:`MAX_VALUES_PER_SUBJECT` values of one application (or of its OS) and :data:`MAX_VALUES_PER_DEVICE` in
all, the first ones seen (retention frees values not seen any more); a value becomes a change only on enough
devices; /metrics exports the ``[changes] exported`` most recent.

Where the values come from: OS builds from every heartbeat (``os_build``), so a device's move is dated to its
first heartbeat on the new build; application versions only from events that name one (``details.app_version``
on a crash, hang, failure of the application): a device whose application never fails never says its version,
and a move is dated to the first failure on the new version.

What a change did (:func:`effects`): on the devices that moved, disruptions (of that application, or all but the
routine measurements and service-desk contacts for an OS build) and lost time per active hour in the
``[changes] window_days`` before each device's move against as long after it (clipped to the data), from the
impact model's hourly figures. The hour of the move itself is left out on both sides: for an application it
holds the failure that revealed the version, which would otherwise count after the change on every device. Only
devices active on both sides count. The verdict (:func:`judge`): too early or too few devices (fewer than
``min_group_size`` such devices, or fewer than ``min_active_hours`` on a side), else worse or better when the
rates differ beyond chance (:func:`collector.rates.compare`, p below ``significance``), else no clear change.
:func:`score` stores the figures of the recent changes for /metrics (a background job every
``[changes] score_every_s``); the weekly report computes them for its week.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from collector import impact
from collector.aggregates import DAY, HOUR, UNKNOWN_VERSION, app_version, discover
from collector.config import OTHER_APP, CollectorConfig
from collector.db import insert, prepared, write_transaction
from collector.labels import min_group_size
from collector.models import active_hourly_table, change_table, device_change_table, lost_hourly_table
from collector.rates import compare
from contract.events import APP_VERSION as APP_VERSION_DETAIL, ROUTINE_TYPES, names
from contract.records import UNKNOWN
from contract.settings import setting

APP_VERSION = "app_version"  # kinds of change
OS_BUILD = "os_build"
OS = "os"  # the subject of an OS build

MAX_VALUES_PER_SUBJECT = 32
MAX_VALUES_PER_DEVICE = 512
SEEN_STEP_S = DAY  # a value's last_seen moves forward at most this often (retention's precision is days)
MAX_SCORED = 100  # changes scored per round: the most recently first seen
SETTLED_WINDOWS = 4  # a change first seen this many [changes] windows ago, once scored, is not scored again
MAX_REPORTED = 20  # changes listed in one weekly report, the most adopted first

APP_TYPES = discover.APP_TYPES  # the events that may name a version
# What an application version is judged by: its failures (crashes, hangs, unavailability, abnormal exits), not its
# slowness, which is mostly the network's or the machine's and would bury a doubling of crashes.
FAILURE_TYPES = names(versioned=True)
OS_TYPES = tuple(t for t in names(support=False) if t not in ROUTINE_TYPES)

WORSE, BETTER, UNCLEAR, EARLY = "worse", "better", "unclear", "early"  # verdicts
VERDICT_TEXT = {WORSE: "worse", BETTER: "better", UNCLEAR: "no clear change", EARLY: "too early / too few devices"}


@dataclass
class ChangeSettings:
    """The ``[changes]`` table of the collector configuration."""

    window_days: float = setting(7.0, min=1, max=60, doc="days before and after each device's move compared")
    min_active_hours: float = setting(40.0, min=0, max=1_000_000, doc="a change is judged when its devices were "
                                      "active at least this many hours on each side")
    significance: float = setting(0.01, min=1e-9, max=0.5, doc="a change is worse or better when chance alone "
                                  "would give rates this different less often than this (p-value)")
    exported: int = setting(20, min=0, max=500, doc="changes exported on /metrics: the most recently first seen")
    score_every_s: float = setting(300.0, min=1, max=86400, doc="how often the figures of the recent changes are "
                                   "recomputed for /metrics")


def settings_of(config: CollectorConfig) -> ChangeSettings:
    """The ``[changes]`` settings of a collector config (defaults when absent)."""
    return config.sections.get("changes") or ChangeSettings()


def label(apps: discover.AppLabels, kind: str, subject: str) -> str | None:
    """The name a change's subject is shown under: ``os``, or the application's label (catalogued or discovered:
    ``apps``); None for an application folded into ``other`` (several applications' versions would mix)."""
    if kind == OS_BUILD:
        return OS
    name = apps.name(subject)
    return None if name == OTHER_APP else name


# ------------------------------------------------------------------ at ingest


def record(conn: Connection, batch: Any) -> None:
    """Keep the values the batch's new records show for its device, and promote the moves of enough devices to
    changes of the fleet (``batch``: :class:`collector.ingest.IngestedBatch`)."""
    seen = _seen(batch)
    if not seen:
        return
    dev = batch.device["id"]
    subjects = sorted({subject for _kind, subject, _value in seen})
    stored: dict[tuple[str, str, str], tuple[float, float]] = {}
    for at in range(0, len(subjects), 500):
        for kind, subject, value, adopted, last in conn.execute(prepared(conn, _device_values),
                                                                {"dev": dev, "subjects": subjects[at:at + 500]}):
            stored[(kind, subject, value)] = (adopted, last)
    known: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for (kind, subject, value), (adopted, _last) in stored.items():
        known[(kind, subject)].append((adopted, value))
    updates, moved = [], set()
    for key in sorted(seen.keys() & stored.keys()):
        (first, last), (adopted, last_seen) = seen[key], stored[key]
        if first < adopted or last > last_seen + SEEN_STEP_S:
            updates.append({"dev": dev, "k": key[0], "s": key[1], "v": key[2], "adopted_at": min(first, adopted),
                            "adopted_hour": impact.hour_start(min(first, adopted)), "last_seen": max(last, last_seen)})
            if first < adopted:
                moved.add(key)
    fresh = sorted((key for key in seen if key not in stored), key=lambda k: (seen[k][0], k))
    rows = []
    if fresh:
        room = MAX_VALUES_PER_DEVICE - conn.execute(prepared(conn, _device_count), {"dev": dev}).scalar_one()
        for kind, subject, value in fresh:
            values = known[(kind, subject)]
            if room <= 0 or len(values) >= MAX_VALUES_PER_SUBJECT:
                continue
            first, last = seen[(kind, subject, value)]
            previous = max((v for v in values if v[0] < first), default=(None, None))[1]
            rows.append({"device_id": dev, "kind": kind, "subject": subject, "value": value, "adopted_at": first,
                         "adopted_hour": impact.hour_start(first), "previous": previous, "last_seen": last})
            if previous is not None:
                moved.add((kind, subject, value))
            values.append((first, value))
            room -= 1
    if updates:
        conn.execute(prepared(conn, _update_value), updates)
    if rows:
        conn.execute(prepared(conn, _insert_values), rows)
    _promote(conn, sorted(moved), min_group_size(batch.config))


def _seen(batch: Any) -> dict[tuple[str, str, str], list[float]]:
    """(kind, subject, value) -> [earliest, latest] time among the batch's new records."""
    out: dict[tuple[str, str, str], list[float]] = {}

    def see(key: tuple[str, str, str], t: float) -> None:
        span = out.get(key)
        if span is None:
            out[key] = [t, t]
        elif t < span[0]:
            span[0] = t
        elif t > span[1]:
            span[1] = t

    for h in batch.heartbeats:
        build = h.get("os_build")
        if isinstance(build, str) and build and build != UNKNOWN:
            see((OS_BUILD, OS, build), h["time"])
    events = batch.events
    for i in [i for i, t in enumerate(events["type"]) if t in APP_TYPES]:
        raw = events["details"][i].get(APP_VERSION_DETAIL)
        version = app_version(raw) if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else None
        if version and version != UNKNOWN_VERSION:
            see((APP_VERSION, events["app"][i], version), events["start"][i])
    return out


def _promote(conn: Connection, keys: list[tuple[str, str, str]], min_devices: int) -> None:
    """Make (or update) the fleet's change of each value once at least ``min_devices`` devices moved to it."""
    for kind, subject, value in keys:
        adopters, first = conn.execute(prepared(conn, _value_counts), {"k": kind, "s": subject, "v": value}).one()
        if adopters >= min_devices:
            conn.execute(prepared(conn, _upsert_change), {"kind": kind, "subject": subject, "value": value,
                                                          "first_seen": first, "adopters": adopters})


_d = device_change_table.c
_KEY = (_d.device_id == sa.bindparam("dev"), _d.kind == sa.bindparam("k"), _d.subject == sa.bindparam("s"),
        _d.value == sa.bindparam("v"))


def _device_values(_bind: Connection):
    return sa.select(_d.kind, _d.subject, _d.value, _d.adopted_at, _d.last_seen).where(
        _d.device_id == sa.bindparam("dev"), _d.subject.in_(sa.bindparam("subjects", expanding=True)))


def _device_count(_bind: Connection):
    return sa.select(sa.func.count()).select_from(device_change_table).where(_d.device_id == sa.bindparam("dev"))


def _update_value(_bind: Connection):
    return device_change_table.update().where(*_KEY).values(
        adopted_at=sa.bindparam("adopted_at"), adopted_hour=sa.bindparam("adopted_hour"),
        last_seen=sa.bindparam("last_seen"))


def _insert_values(bind: Connection):
    return insert(bind, device_change_table).on_conflict_do_nothing(
        index_elements=["device_id", "kind", "subject", "value"])


def _value_counts(_bind: Connection):
    return sa.select(sa.func.count(_d.previous), sa.func.min(_d.adopted_at)).where(*_KEY[1:])


def _upsert_change(bind: Connection):
    stmt = insert(bind, change_table)
    new = stmt.excluded
    return stmt.on_conflict_do_update(index_elements=["kind", "subject", "value"], set_={
        "first_seen": new.first_seen, "adopters": new.adopters})


# ------------------------------------------------------------------ before and after


@dataclass
class Effect:
    """One change and its figures on the devices that moved: before and after, and the verdict."""

    kind: str
    subject: str
    value: str
    first_seen: float
    adopters: int  # devices that moved to the value
    devices: int = 0  # of them, active on both sides: those compared
    before_active_s: float = 0.0
    before_disruptions: int = 0
    before_lost_s: float = 0.0
    after_active_s: float = 0.0
    after_disruptions: int = 0
    after_lost_s: float = 0.0
    p_value: float | None = None
    verdict: str = EARLY

    def rate(self, side: str, what: str = "disruptions") -> float | None:
        """Disruptions (or lost seconds, ``what="lost_s"``) per active hour on one side, None without activity."""
        active = getattr(self, f"{side}_active_s")
        return getattr(self, f"{side}_{what}") / (active / HOUR) if active > 0 else None

    def ratio(self, what: str = "disruptions") -> float | None:
        """After / before (None without a rate before)."""
        before, after = self.rate("before", what), self.rate("after", what)
        return after / before if before and after is not None else None


def judge(e: Effect, settings: ChangeSettings, min_devices: int) -> Effect:
    """Set the p-value and the verdict of an effect from its figures."""
    test = compare(e.before_disruptions, e.before_active_s / HOUR, e.after_disruptions, e.after_active_s / HOUR)
    e.p_value = test.p_value if test else None
    hours = min(e.before_active_s, e.after_active_s) / HOUR
    if test is None or e.devices < min_devices or hours < settings.min_active_hours:
        e.verdict = EARLY
    elif test.p_value < settings.significance:
        e.verdict = WORSE if e.rate("after") > e.rate("before") else BETTER
    else:
        e.verdict = UNCLEAR
    return e


def effects(conn: Connection, changes: list[Effect], config: CollectorConfig, until: float) -> list[Effect]:
    """Fill in and judge the figures of ``changes`` (their keys, first seen and adopters set) from the hourly
    figures of the hours before ``until``."""
    settings = settings_of(config)
    window = int(settings.window_days * DAY)
    for e in changes:
        params = {"k": e.kind, "s": e.subject, "v": e.value, "w": window, "until": until}
        per_device: dict[str, list[float]] = defaultdict(lambda: [0.0] * 6)  # before, after: active, n, lost
        for dev, side, active_s in conn.execute(_STMT["active"], params):
            per_device[dev][3 * side] += active_s or 0.0
        lost = _STMT["app_lost"] if e.kind == APP_VERSION else _STMT["os_lost"]
        for dev, side, n, lost_s in conn.execute(lost, {**params, "types": FAILURE_TYPES if e.kind == APP_VERSION
                                                        else OS_TYPES}):
            acc = per_device[dev]
            acc[3 * side + 1] += n or 0
            acc[3 * side + 2] += lost_s or 0.0
        both = [acc for acc in per_device.values() if acc[0] > 0 and acc[3] > 0]
        e.devices = len(both)
        sums = [sum(acc[i] for acc in both) for i in range(6)]
        (e.before_active_s, b_n, e.before_lost_s, e.after_active_s, a_n, e.after_lost_s) = sums
        e.before_disruptions, e.after_disruptions = int(b_n), int(a_n)
        judge(e, settings, min_group_size(config))
    return changes


def _around(table: sa.Table, values: tuple, *more: sa.ColumnElement) -> sa.Select:
    """Per moved device of one value and side (0 before its move, 1 after): ``values`` of ``table``'s hours in
    the window around the move, but the hour of the move, before ``until``."""
    hour = table.c.hour
    side = sa.case((hour < _d.adopted_hour, sa.literal_column("0")), else_=sa.literal_column("1"))  # no parameter:
    # PostgreSQL binds each parameter apart, and would not see the grouped expression in the selected one
    return (sa.select(_d.device_id, side, *values)
            .join_from(device_change_table, table, table.c.device_id == _d.device_id)
            .where(*_KEY[1:], _d.previous.isnot(None), hour >= _d.adopted_hour - sa.bindparam("w"),
                   hour < _d.adopted_hour + sa.bindparam("w") + HOUR, hour != _d.adopted_hour,
                   hour < sa.bindparam("until"), *more)
            .group_by(_d.device_id, side))


_lh = lost_hourly_table.c
_LOST = (sa.func.sum(_lh.disruptions), sa.func.sum(_lh.lost_s))
_TYPES = _lh.type.in_(sa.bindparam("types", expanding=True))
_STMT = {
    "active": _around(active_hourly_table, (sa.func.sum(active_hourly_table.c.active_s),)),
    "app_lost": _around(lost_hourly_table, _LOST, _TYPES, _lh.app == _d.subject),
    "os_lost": _around(lost_hourly_table, _LOST, _TYPES),
}


# ------------------------------------------------------------------ stored figures


_c = change_table.c
_FIGURES = ("devices", "before_active_s", "before_disruptions", "before_lost_s", "after_active_s",
            "after_disruptions", "after_lost_s", "p_value", "verdict")


def score(engine: Engine, config: CollectorConfig, now: float) -> int:
    """Compute and store the figures of the :data:`MAX_SCORED` most recent changes still moving; return how many.

    Still moving: never scored, or first seen within :data:`SETTLED_WINDOWS` windows (late records, stragglers'
    moves and the refresher change their hours); an older change keeps the figures it was last scored with.
    Reads on one connection, then writes the figures in one short transaction (ingest waits only for that).
    """
    since = now - config.collector.retention_days * DAY
    moving = now - SETTLED_WINDOWS * settings_of(config).window_days * DAY
    with engine.connect() as conn:
        due = [Effect(*row) for row in conn.execute(
            sa.select(_c.kind, _c.subject, _c.value, _c.first_seen, _c.adopters)
            .where(_c.first_seen >= since, sa.or_(_c.scored_at.is_(None), _c.first_seen >= moving))
            .order_by(_c.first_seen.desc(), _c.kind, _c.subject, _c.value).limit(MAX_SCORED))]
        effects(conn, due, config, now)
    if due:
        with write_transaction(engine) as conn:
            conn.execute(change_table.update().where(
                _c.kind == sa.bindparam("k"), _c.subject == sa.bindparam("s"), _c.value == sa.bindparam("v")
            ).values(scored_at=now, **{f: sa.bindparam(f"f_{f}") for f in _FIGURES}),
                [{"k": e.kind, "s": e.subject, "v": e.value, **{f"f_{f}": getattr(e, f) for f in _FIGURES}}
                 for e in due])
    return len(due)


def recent(conn: Connection, config: CollectorConfig, now: float,
           apps: discover.AppLabels) -> Iterator[tuple[str, Effect]]:
    """The stored changes first seen within the retention, the most recent first, whose subject has a name
    (:func:`label`, under ``apps``: the scrape's own), with that name: at most ``[changes] exported``."""
    limit = settings_of(config).exported
    if limit == 0:
        return
    rows = conn.execute(sa.select(_c.kind, _c.subject, _c.value, _c.first_seen, _c.adopters,
                                  *(_c[f] for f in _FIGURES))
                        .where(_c.first_seen >= now - config.collector.retention_days * DAY,
                               _c.adopters >= min_group_size(config))
                        .order_by(_c.first_seen.desc(), _c.kind, _c.subject, _c.value))
    for row in rows:
        name = label(apps, row[0], row[1])
        if name is not None:
            yield name, Effect(*row[:5], **dict(zip(_FIGURES, row[5:])))
            limit -= 1
            if limit == 0:
                break
    rows.close()


def in_period(conn: Connection, config: CollectorConfig, start: float, end: float) -> list[tuple[str, Effect]]:
    """The changes to tell of a period ``[start, end)``: first seen in it, or in the window before it (their
    after-windows end in it); with a named subject, the :data:`MAX_REPORTED` most adopted, figures as of ``end``."""
    window = settings_of(config).window_days * DAY
    rows = conn.execute(sa.select(_c.kind, _c.subject, _c.value, _c.first_seen, _c.adopters)
                        .where(_c.first_seen >= start - window, _c.first_seen < end,
                               _c.adopters >= min_group_size(config))
                        .order_by(_c.adopters.desc(), _c.first_seen, _c.kind, _c.subject, _c.value)).all()
    apps = discover.current(conn, config)
    named = [(name, Effect(*row)) for row in rows if (name := label(apps, row[0], row[1])) is not None]
    named = named[:MAX_REPORTED]
    effects(conn, [e for _name, e in named], config, end)
    return named
