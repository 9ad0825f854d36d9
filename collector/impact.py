"""The impact model: how disruptions become lost working time, cost and a score.

Pure functions, no database: the aggregates module feeds it one device's events
and heartbeats and stores what it returns. ``docs/impact-model.md`` explains
every rule with worked examples; this module is the normative version.

Rules of version ``MODEL_VERSION``:

1. Only active time counts. Heartbeats close intervals ``[time - interval_s,
   time]`` and carry the employee-active seconds in them; the active *fraction*
   of an interval is ``active_s / interval_s``.
2. Each event becomes a *lost span* ``[s, e]`` with a lost amount ``L``,
   spread evenly over the span (density ``L / (e - s)``, at most 1):

   - DURATION types (hang, connectivity_loss, app_unavailable): the span is
     the event, ``L`` is its ``active_s`` (or, when the agent sent none, the
     heartbeats' active seconds inside the span).
   - EXCESS types (slow_app, slow_system, connectivity_degraded): ``L`` is
     ``details.excess_s`` (time beyond the threshold; 0 when absent) times the
     event's active fraction; the span is the event, at least ``excess_s`` long
     (the contract keeps ``excess_s`` within the event's duration, one second
     of rounding allowed, and :func:`excess_of` clamps it so for rows stored
     before that rule).
   - RECOVERY types (crash, unexpected_shutdown, abnormal_exit, test): the
     span is the configured recovery time starting when the event ends, and its
     density is the active fraction of the heartbeat interval covering the
     event's start (the last heartbeat ending at most ``instant_lookback_s``
     before it when none covers it, e.g. the agent died with the machine).
   - Optional refocus penalty (``refocus_penalty_s``, off by default): after
     an interruption (hang, outage, unavailable app, crash, shutdown) a span of
     that length at the event's active fraction, same cause.
3. Overlaps on one device are merged by a sweep: each moment is lost at most
   once, at the density of the worst span covering it, and credited to that
   span's cause; ties go to the type earlier in ``PRIORITY``, then the earlier
   start, then the smaller event id (so the order of arrival never matters).
4. Per device and clock hour, lost time never exceeds active time: when it
   would, every cause in that hour is scaled down by the same factor.
5. Events count at the time they happened, however late they arrive.
6. (Version 2) The support cause, layered on top: a service-desk ticket joined
   to the device costs its channel's contact time from ``opened_at`` at the
   active fraction there (like a recovery), and a work-stopping ticket also
   its wait from the end of contact until resolution (or, open, the cap),
   capped at ``support_wait_cap_s``, at the active fraction of each heartbeat
   interval it crosses. A remote ticket with ``support_session`` events inside
   it has those sessions as its contact instead. These spans and the sessions
   (the types with ``support=True``) are swept among themselves, and each
   moment gives them only what its density exceeds the winning disruption's;
   per device-hour they share only what the cap left after the disruptions.
   So version 1's figures are version 2's without the support types
   (:func:`types_of`).
7. (Version 3) The experience score counts impacted time, not lost time: a
   device-hour is *impacted* when its lost time (rules 1-6: merged, capped,
   every cause) reaches ``impacted_hour_lost_s``, and the score is the share of
   active seconds outside impacted device-hours (:func:`impacted_active`,
   :func:`score`). Per application, the threshold applies to that
   application's own lost time in the hour. Lost time itself is version 2's.

Cost is lost hours times the hourly cost; ``lost / active`` is the
productivity-loss ratio (:func:`loss_ratio`); the experience score is
:func:`score_of` the version (``1 - lost / active`` up to version 2).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field

from contract import events
from contract.events import TABLE, Cost
from contract.records import ROUNDING_S
from contract.settings import setting

MODEL_VERSION = "3"
MODEL_VERSIONS = ("1", "2", "3")  # every version a week can be shown under (types_of, score_of)

HOUR = 3600
DURATION_TYPES = events.names(cost=Cost.DURATION)
EXCESS_TYPES = events.names(cost=Cost.EXCESS)
RECOVERY_TYPES = events.names(cost=Cost.RECOVERY)
INTERRUPTIONS = events.names(interrupts=True)
SUPPORT_TYPES = events.names(support=True)  # the layer rule 6 adds: support_session, support
TICKET = "support"  # the type of a ticket's lost time (its app is the ticket's channel)
SESSION = "support_session"  # a measured remote-support session: a remote ticket's contact
# Contact time per channel (docs/impact-model.md, "Parameters": sources and assumptions)
DEFAULT_CONTACT_S = {"phone": 600.0, "email": 300.0, "portal": 300.0, "chat": 720.0, "walk_in": 900.0,
                     "remote": 900.0, "other": 600.0}
MAX_CONTACT_S = 14400.0  # the bounds of the support settings: what any configuration lets a ticket reach
MAX_WAIT_CAP_S = 7 * 86400.0
PRIORITY = events.EVENT_TYPES  # the table's order: ties between causes go to the more fundamental one
_RANK = {t: i for i, t in enumerate(PRIORITY)}


def types_of(version: str) -> tuple[str, ...]:
    """The event types whose lost time a model version counts: version 1 is version 2 without the support cause;
    version 3 counts version 2's (it changes only the score)."""
    if version not in MODEL_VERSIONS:
        raise ValueError(f"model version must be one of {', '.join(MODEL_VERSIONS)}, got {version!r}")
    return tuple(t for t in PRIORITY if t not in SUPPORT_TYPES) if version == "1" else PRIORITY


def recovery_setting(event_type: str) -> str:
    """The ``[model]`` key of the recovery time of a :attr:`Cost.RECOVERY` event type."""
    return f"{event_type}_recovery_s"


def _with_recovery_settings(cls: type) -> type:
    """Give a settings class one ``<type>_recovery_s`` setting per RECOVERY type of the contract's table, first."""
    recoveries = {}
    for t in TABLE:
        if t.cost is Cost.RECOVERY:
            name = recovery_setting(t.name)
            recoveries[name] = "float"
            what = t.recovery or f"each {t.name.replace('_', ' ')}"
            setattr(cls, name, setting(t.recovery_s, min=0, max=86400, doc=f"time lost to {what} (assumption)"))
    cls.__annotations__ = {**recoveries, **cls.__annotations__}
    return cls


@dataclass
@_with_recovery_settings
class ModelConfig:
    """The ``[model]`` table of the collector configuration (and ``<type>_recovery_s`` per RECOVERY type)."""

    app_crash_recovery_s: dict[str, float] = setting(
        default_factory=dict, doc="per-application overrides of crash_recovery_s, e.g. {sap = 600}")
    refocus_penalty_s: float = setting(
        0.0, min=0, max=3600, doc="extra time to get back into the task after an interruption; 0 = off")
    instant_lookback_s: float = setting(
        300.0, min=0, max=86400, doc="for a crash or shutdown no heartbeat covers: use one ending this long before")
    hourly_cost: float = setting(50.0, min=0, doc="cost of one hour of work, organisation default")
    currency: str = setting("EUR", doc="currency of the hourly costs (ISO 4217 code)")
    department_hourly_cost: dict[str, float] = setting(default_factory=dict, doc="per-department hourly cost")
    support_contact_s: dict[str, float] = setting(
        default_factory=dict, doc="time one service-desk contact costs the caller, per channel, e.g. {phone = 480}; "
        f"channels left out keep their defaults; at most {MAX_CONTACT_S:.0f}")
    support_wait_cap_s: float = setting(
        14400.0, min=0, max=MAX_WAIT_CAP_S,
        doc="the most a work-stopping ticket's wait for resolution costs (assumption)")
    impacted_hour_lost_s: float = setting(
        60.0, min=1, max=3600, doc="version 3: an active device-hour with this much lost time (or more) is impacted "
        "and leaves the experience score")

    def __post_init__(self) -> None:
        for name in ("app_crash_recovery_s", "department_hourly_cost", "support_contact_s"):
            for key, value in getattr(self, name).items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                    raise ValueError(f"{name}.{key}: must be a non-negative number, got {value!r}")
        unknown = sorted(set(self.support_contact_s) - set(DEFAULT_CONTACT_S))
        if unknown:
            raise ValueError(f"support_contact_s.{unknown[0]}: not a channel; use {', '.join(DEFAULT_CONTACT_S)}")
        for key, value in self.support_contact_s.items():
            if value > MAX_CONTACT_S:
                raise ValueError(f"support_contact_s.{key}: {value!r} is above the maximum {MAX_CONTACT_S:.0f}")
        self.support_contact_s = {**DEFAULT_CONTACT_S, **{k: float(v) for k, v in self.support_contact_s.items()}}
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValueError(f"currency: {self.currency!r} is not a three-letter ISO 4217 code such as EUR")

    @property
    def version(self) -> str:
        """The model version, labelled with the refocus penalty when it is on."""
        return self.versioned(MODEL_VERSION)

    def versioned(self, version: str) -> str:
        """How figures shown under ``version`` (one of :data:`MODEL_VERSIONS`) are labelled with these parameters."""
        types_of(version)  # a known version
        return version + (f"+refocus{self.refocus_penalty_s:g}s" if self.refocus_penalty_s else "")

    def contact_s(self, channel: str) -> float:
        """The contact time of one service-desk ticket of ``channel`` (``other``'s for an unknown channel)."""
        return self.support_contact_s.get(channel, self.support_contact_s["other"])

    def recovery_s(self, event_type: str, app: str) -> float:
        """Recovery time charged for one event of a RECOVERY type."""
        default = getattr(self, recovery_setting(event_type))
        return float(self.app_crash_recovery_s.get(app, default) if event_type == "crash" else default)

    @property
    def reach_s(self) -> float:
        """How far after its start an event or heartbeat can change the figures (recovery or a ticket's contact
        at the heartbeat's fraction, refocus, look-back). A ticket's wait counts each heartbeat's own fraction,
        so a heartbeat changes a wait only in its own hours."""
        recoveries = [getattr(self, recovery_setting(t)) for t in RECOVERY_TYPES]
        longest = max([*recoveries, *self.app_crash_recovery_s.values(), *self.support_contact_s.values()])
        return longest + self.refocus_penalty_s + self.instant_lookback_s

    @property
    def ticket_reach_s(self) -> float:
        """How far after it was opened a ticket can cost time (the longest contact, then the capped wait)."""
        return max(self.support_contact_s.values()) + self.support_wait_cap_s

    def hourly_cost_for(self, department: str) -> float:
        """The hourly cost for a department (the organisation default unless overridden)."""
        return float(self.department_hourly_cost.get(department, self.hourly_cost))

    def parameters(self, version: str = MODEL_VERSION) -> dict:
        """Every parameter, for reports and the method section (of figures shown under ``version``)."""
        return {"model_version": self.versioned(version), **{k: getattr(self, k) for k in self.__dataclass_fields__}}


@dataclass(frozen=True)
class Disruption:
    """One event as the model sees it (the wire event's fields that matter)."""

    id: str
    type: str
    app: str
    start: float
    duration_s: float = 0.0
    active_s: float | None = None
    excess_s: float | None = None


@dataclass(frozen=True)
class SupportTicket:
    """One service-desk ticket joined to the device, as the model sees it (times in Unix seconds)."""

    id: str  # unique per device (source and ticket id): the tie-break between tickets
    channel: str
    opened_at: float
    resolved_at: float | None = None  # None while open
    work_stopping: bool = False

    def horizon(self, cfg: ModelConfig) -> float:
        """The end of the ticket's life as the model reads it: its resolution, else as far as an open one reaches."""
        return self.resolved_at if self.resolved_at is not None else self.opened_at + cfg.ticket_reach_s


@dataclass(frozen=True)
class Interval:
    """One heartbeat: the interval ``[end - interval_s, end]`` and its active seconds."""

    end: float
    interval_s: float
    active_s: float


@dataclass
class DeviceHours:
    """One device's figures per clock hour (keys are hour starts, Unix seconds)."""

    lost: dict[tuple[int, str, str], float] = field(default_factory=dict)  # (hour, type, app) -> seconds
    disruptions: dict[tuple[int, str, str], int] = field(default_factory=dict)  # by start hour
    active: dict[int, float] = field(default_factory=dict)

    def lost_total(self) -> float:
        return sum(self.lost.values())

    def lost_by_hour(self) -> dict[int, float]:
        """Lost seconds per hour, every cause together (what makes an hour impacted, rule 7)."""
        out: dict[int, float] = defaultdict(float)
        for (h, _t, _a), v in self.lost.items():
            out[h] += v
        return dict(out)


def is_disruption(ev: Disruption) -> bool:
    """Whether the event counts as a disruption: a routine measurement (a boot, a sign-in) only beyond its
    threshold (``contract.events.is_disruption``)."""
    return events.is_disruption(ev.type, {events.EXCESS_S: ev.excess_s})


def excess_of(value: object, duration_s: float) -> float | None:
    """An event's ``details.excess_s`` as the model reads it: a number of seconds within the event, else None.

    The contract accepts only such values (``contract.records.excess_problem``); this clamp keeps an
    event stored before that rule (``excess_s = 1e15``) from costing, or reaching, more than its own span.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(min(max(value, 0.0), duration_s + ROUNDING_S))


def event_span(ev: Disruption, cfg: ModelConfig) -> tuple[float, float]:
    """The wall-clock interval an event can cost time in (refocus penalty included)."""
    end = ev.start + ev.duration_s
    if ev.type in EXCESS_TYPES:
        end = max(end, ev.start + (ev.excess_s or 0.0))
    elif ev.type in RECOVERY_TYPES:
        end += cfg.recovery_s(ev.type, ev.app)
    if ev.type in INTERRUPTIONS:
        end += cfg.refocus_penalty_s
    return ev.start, end


class _Activity:
    """The heartbeats of one device as a piecewise-constant active fraction."""

    def __init__(self, heartbeats: list[Interval]):
        rows = sorted((hb.end - hb.interval_s, hb.end, hb.active_s / hb.interval_s if hb.interval_s > 0 else 0.0)
                      for hb in heartbeats)
        self._rows = [(s, e, min(f, 1.0)) for s, e, f in rows]
        self._starts = [r[0] for r in self._rows]
        self._longest = max((e - s for s, e, _ in self._rows), default=0.0)

    def _around(self, s: float, e: float):
        lo = bisect.bisect_left(self._starts, s - self._longest)
        hi = bisect.bisect_right(self._starts, e)
        return self._rows[lo:hi]

    def seconds(self, s: float, e: float) -> float:
        """Active seconds inside ``[s, e]``."""
        total = sum(max(0.0, min(e, he) - max(s, hs)) * f for hs, he, f in self._around(s, e))
        return min(total, max(0.0, e - s))

    def pieces(self, s: float, e: float) -> list[tuple[float, float, float]]:
        """The heartbeat intervals' parts inside ``[s, e]`` with their active fractions, adjacent parts of one
        fraction joined (a wait of hours at one-minute heartbeats is then a few spans, not hundreds)."""
        out: list[tuple[float, float, float]] = []
        for hs, he, f in self._around(s, e):
            a, b = max(s, hs), min(e, he)
            if b <= a:
                continue
            if out and out[-1][2] == f and out[-1][0] <= a <= out[-1][1]:
                out[-1] = (out[-1][0], max(b, out[-1][1]), f)
            else:
                out.append((a, b, f))
        return out

    def fraction_at(self, t: float, lookback_s: float) -> float:
        """Active fraction of the interval covering ``t``, else of the last one ending within lookback."""
        covering = [f for hs, he, f in self._around(t, t) if hs <= t <= he]
        if covering:
            return max(covering)
        before = [(he, f) for hs, he, f in self._around(t - lookback_s, t) if t - lookback_s <= he < t]
        return max(before)[1] if before else 0.0


def active_seconds(heartbeats: list[Interval], spans: list[tuple[float, float]]) -> list[float]:
    """The active seconds heartbeats show inside each span ``[s, e]`` (each interval's spread evenly over it), at
    most ``e - s``: the most application focus a device's period can count (rule 1; ``collector.ingest``)."""
    activity = _Activity(heartbeats)
    return [activity.seconds(s, e) for s, e in spans]


@dataclass(frozen=True)
class _Span:
    start: float
    end: float
    density: float
    rank: int  # PRIORITY index; refocus spans rank after every primary span
    event_start: float
    event_id: str
    type: str
    app: str

    @property
    def precedence(self) -> tuple[float, int, float, str]:
        """Smaller wins (rule 3): the denser span, then the worse type, the earlier event, the smaller id."""
        return (-self.density, self.rank, self.event_start, self.event_id)


def _spans(ev: Disruption, activity: _Activity, cfg: ModelConfig) -> list[_Span]:
    """The lost spans of one event (rule 2)."""
    rank = _RANK[ev.type]
    end = ev.start + ev.duration_s
    if ev.type in DURATION_TYPES:
        if ev.duration_s <= 0:
            return []
        active = activity.seconds(ev.start, end) if ev.active_s is None else min(ev.active_s, ev.duration_s)
        fraction = active / ev.duration_s
        spans = [(ev.start, end, fraction)]
    elif ev.type in EXCESS_TYPES:
        excess = max(0.0, ev.excess_s or 0.0)
        length = max(end, ev.start + excess) - ev.start
        if excess <= 0 or length <= 0:
            return []
        if ev.active_s is not None and ev.duration_s > 0:
            fraction = min(ev.active_s, ev.duration_s) / ev.duration_s
        else:
            fraction = activity.seconds(ev.start, ev.start + length) / length
        return [_Span(ev.start, ev.start + length, excess * fraction / length, rank, ev.start, ev.id, ev.type, ev.app)]
    else:
        recovery = cfg.recovery_s(ev.type, ev.app)
        fraction = activity.fraction_at(ev.start, cfg.instant_lookback_s)
        spans = [(end, end + recovery, fraction)] if recovery > 0 else []
        end += recovery
    if cfg.refocus_penalty_s > 0 and ev.type in INTERRUPTIONS:
        spans.append((end, end + cfg.refocus_penalty_s, fraction))
    out = []
    for i, (s, e, d) in enumerate(spans):
        if e > s and d > 0:
            out.append(_Span(s, e, d, rank + len(PRIORITY) * i, ev.start, ev.id, ev.type, ev.app))
    return out


def ticket_span(ticket: SupportTicket, cfg: ModelConfig | None) -> tuple[float, float]:
    """The wall-clock interval a ticket can cost time in; with no ``cfg``, the widest any configuration allows."""
    contact = cfg.contact_s(ticket.channel) if cfg else MAX_CONTACT_S
    end = ticket.opened_at + contact
    if ticket.work_stopping:
        horizon = ticket.resolved_at if ticket.resolved_at is not None else math.inf
        end = max(end, min(horizon, end + (cfg.support_wait_cap_s if cfg else MAX_WAIT_CAP_S)))
    return ticket.opened_at, end


def _ticket_spans(ticket: SupportTicket, sessions: list[float], activity: _Activity,
                  cfg: ModelConfig) -> list[_Span]:
    """The lost spans of one ticket (rule 6); ``sessions`` are the starts of the device's support sessions, sorted."""
    rank = _RANK[TICKET]
    opened, horizon = ticket.opened_at, ticket.horizon(cfg)
    measured = (ticket.channel == "remote"
                and bisect.bisect_right(sessions, horizon) > bisect.bisect_left(sessions, opened))
    spans = []
    contact_end = opened
    if not measured:  # the sessions, spans of their own, are the contact of a remote ticket that has them
        contact_end = opened + cfg.contact_s(ticket.channel)
        spans.append((opened, contact_end, activity.fraction_at(opened, cfg.instant_lookback_s)))
    if ticket.work_stopping:
        wait_end = min(horizon, contact_end + cfg.support_wait_cap_s)
        spans += activity.pieces(contact_end, wait_end)
    return [_Span(s, e, d, rank, opened, ticket.id, TICKET, ticket.channel) for s, e, d in spans if e > s and d > 0]


def hour_start(t: float) -> int:
    """The Unix time of the start of the UTC hour holding ``t``."""
    return int(math.floor(t / HOUR) * HOUR)


def _cuts(s: float, e: float) -> list[float]:
    """``[s, ..., e]`` with every hour boundary strictly inside."""
    points = [s]
    h = hour_start(s) + HOUR
    while h < e:
        points.append(float(h))
        h += HOUR
    points.append(e)
    return points


def _active_by_hour(heartbeats: list[Interval], ws: float, we: float) -> dict[int, float]:
    active: dict[int, float] = defaultdict(float)
    for hb in heartbeats:
        if hb.interval_s <= 0:
            continue
        fraction = min(hb.active_s / hb.interval_s, 1.0)
        s, e = max(hb.end - hb.interval_s, ws), min(hb.end, we)
        if e <= s:
            continue
        cuts = _cuts(s, e)
        for a, b in zip(cuts, cuts[1:]):
            active[hour_start(a)] += (b - a) * fraction
    return {h: min(v, float(HOUR)) for h, v in active.items()}


def _sweep(spans: list[_Span], support: list[_Span] = ()) -> dict[tuple[int, str, str], float]:
    """Merge overlapping spans (rule 3): each moment lost once, to the winning span; then the support layer's
    winner gets what its density exceeds that one's (rule 6).

    The spans of each layer that have started are kept in a heap by
    precedence; ended ones are dropped only when they reach the top, which is
    then the winner among the live ones: O(n log n) however many spans overlap.
    """
    lost: dict[tuple[int, str, str], float] = defaultdict(float)
    points = sorted({p for layer in (spans, support) for sp in layer for p in _cuts(sp.start, sp.end)})
    layers = [(sorted(layer, key=lambda sp: sp.start), []) for layer in (spans, support) if layer]
    nxt = [0] * len(layers)
    for a, b in zip(points, points[1:]):
        floor = 0.0  # the density already lost at this moment, by the layers below
        for i, (ordered, started) in enumerate(layers):
            while nxt[i] < len(ordered) and ordered[nxt[i]].start <= a:
                heapq.heappush(started, (ordered[nxt[i]].precedence, nxt[i], ordered[nxt[i]]))
                nxt[i] += 1
            while started and started[0][2].end <= a:
                heapq.heappop(started)
            if started:
                win = started[0][2]
                if win.density > floor:
                    lost[(hour_start(a), win.type, win.app)] += (b - a) * (win.density - floor)
                    floor = win.density
    return lost


def device_hours(events: list[Disruption], heartbeats: list[Interval], cfg: ModelConfig,
                 window: tuple[float, float] | None = None, tickets: list[SupportTicket] = ()) -> DeviceHours:
    """Lost time by hour and cause, disruptions and active time of one device.

    ``window`` restricts the figures to ``[start, end)`` (whole hours); events,
    tickets and heartbeats outside it still count where they reach into it,
    which is what lets the aggregates recompute one device-day at a time
    exactly. ``tickets`` are the service-desk tickets joined to the device.
    """
    ws, we = window if window else (-math.inf, math.inf)
    activity = _Activity(heartbeats)
    layers: tuple[list[_Span], list[_Span]] = ([], [])  # the disruptions, the support cause
    disruptions: dict[tuple[int, str, str], int] = defaultdict(int)

    def keep(spans: list[_Span], layer: list[_Span]) -> None:
        for sp in spans:
            s, e = max(sp.start, ws), min(sp.end, we)
            if e > s:
                layer.append(_Span(s, e, min(sp.density, 1.0), sp.rank, sp.event_start, sp.event_id, sp.type, sp.app))

    for ev in events:
        if ws <= ev.start < we and is_disruption(ev):
            disruptions[(hour_start(ev.start), ev.type, ev.app)] += 1
        keep(_spans(ev, activity, cfg), layers[ev.type in SUPPORT_TYPES])
    sessions = sorted(ev.start for ev in events if ev.type == SESSION)
    for ticket in tickets:
        if ws <= ticket.opened_at < we:
            disruptions[(hour_start(ticket.opened_at), TICKET, ticket.channel)] += 1
        keep(_ticket_spans(ticket, sessions, activity, cfg), layers[1])
    active = _active_by_hour(heartbeats, ws, we)
    lost = _sweep(*layers)
    # rule 4: never more lost than active in any hour of the device; rule 6: the support cause gets what is left
    by_hour: tuple[dict[int, float], dict[int, float]] = (defaultdict(float), defaultdict(float))
    for (h, t, _a), v in lost.items():
        by_hour[t in SUPPORT_TYPES][h] += v
    for key in list(lost):
        h, support = key[0], key[1] in SUPPORT_TYPES
        cap = active.get(h, 0.0)
        if support:
            cap = max(0.0, cap - min(by_hour[0].get(h, 0.0), cap))
        total = by_hour[support][h]
        if total > cap:
            lost[key] = lost[key] * cap / total if total > 0 else 0.0
        if lost[key] <= 0:
            del lost[key]
    return DeviceHours(lost=dict(lost), disruptions=dict(disruptions), active=active)


def alone_s(ev: Disruption, cfg: ModelConfig) -> float:
    """The lost seconds the model counts for one event alone, its employee fully active: rule 2's amount by the
    type's cost (recovery time, active duration, excess) and any refocus penalty, before the overlaps (rule 3)
    and the hourly cap (rule 4) that other events and the heartbeats bring. What one disruption "costs" when
    set beside what the employee said it cost (the pulse, collector.aggregates.felt)."""
    start, end = event_span(ev, cfg)
    return device_hours([ev], [Interval(end, end - start, end - start)], cfg).lost_total()


def impacted_active(lost: dict[int, float], active: dict[int, float], threshold_s: float) -> dict[int, float]:
    """The active seconds of the impacted hours (rule 7): each hour whose ``lost`` seconds (hour -> seconds, of
    one device; of one application for its score) reach ``threshold_s`` counts all its ``active`` seconds."""
    return {h: active[h] for h, s in lost.items() if s + 1e-9 >= threshold_s and active.get(h, 0.0) > 0}


def loss_ratio(lost_s: float, active_s: float) -> float | None:
    """The productivity-loss ratio in 0..1: the share of active time lost; None without active time."""
    if active_s <= 0:
        return None
    return max(0.0, min(1.0, lost_s / active_s))


def score(impacted_s: float, active_s: float) -> float | None:
    """Experience score in 0..1 (rule 7): the share of active time outside impacted hours; None without active
    time."""
    ratio = loss_ratio(impacted_s, active_s)
    return None if ratio is None else 1.0 - ratio


def score_of(version: str, lost_s: float, impacted_s: float, active_s: float) -> float | None:
    """The experience score of figures shown under model ``version``: up to version 2 ``1 - lost / active``,
    from version 3 :func:`score` of the impacted time."""
    types_of(version)  # a known version
    return score(lost_s if version in ("1", "2") else impacted_s, active_s)


def cost(lost_s: float, department: str, cfg: ModelConfig) -> float:
    """Cost of lost seconds in a department, in ``cfg.currency``."""
    return lost_s / HOUR * cfg.hourly_cost_for(department)
