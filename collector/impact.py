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

Cost is lost hours times the hourly cost; the experience score is
``1 - lost / active`` (see :func:`score`).
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

MODEL_VERSION = "1"

HOUR = 3600
DURATION_TYPES = events.names(cost=Cost.DURATION)
EXCESS_TYPES = events.names(cost=Cost.EXCESS)
RECOVERY_TYPES = events.names(cost=Cost.RECOVERY)
INTERRUPTIONS = events.names(interrupts=True)
PRIORITY = events.EVENT_TYPES  # the table's order: ties between causes go to the more fundamental one
_RANK = {t: i for i, t in enumerate(PRIORITY)}


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

    def __post_init__(self) -> None:
        for name in ("app_crash_recovery_s", "department_hourly_cost"):
            for key, value in getattr(self, name).items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                    raise ValueError(f"{name}.{key}: must be a non-negative number, got {value!r}")
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValueError(f"currency: {self.currency!r} is not a three-letter ISO 4217 code such as EUR")

    @property
    def version(self) -> str:
        """The model version, labelled with the refocus penalty when it is on."""
        return MODEL_VERSION + (f"+refocus{self.refocus_penalty_s:g}s" if self.refocus_penalty_s else "")

    def recovery_s(self, event_type: str, app: str) -> float:
        """Recovery time charged for one event of a RECOVERY type."""
        default = getattr(self, recovery_setting(event_type))
        return float(self.app_crash_recovery_s.get(app, default) if event_type == "crash" else default)

    @property
    def reach_s(self) -> float:
        """How far after its start an event or heartbeat can change the figures (recovery, refocus, look-back)."""
        recoveries = [getattr(self, recovery_setting(t)) for t in RECOVERY_TYPES]
        return max([*recoveries, *self.app_crash_recovery_s.values()]) + self.refocus_penalty_s + self.instant_lookback_s

    def hourly_cost_for(self, department: str) -> float:
        """The hourly cost for a department (the organisation default unless overridden)."""
        return float(self.department_hourly_cost.get(department, self.hourly_cost))

    def parameters(self) -> dict:
        """Every parameter, for reports and the method section."""
        return {"model_version": self.version, **{k: getattr(self, k) for k in self.__dataclass_fields__}}


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

    def fraction_at(self, t: float, lookback_s: float) -> float:
        """Active fraction of the interval covering ``t``, else of the last one ending within lookback."""
        covering = [f for hs, he, f in self._around(t, t) if hs <= t <= he]
        if covering:
            return max(covering)
        before = [(he, f) for hs, he, f in self._around(t - lookback_s, t) if t - lookback_s <= he < t]
        return max(before)[1] if before else 0.0


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


def _sweep(spans: list[_Span]) -> dict[tuple[int, str, str], float]:
    """Merge overlapping spans (rule 3): each moment lost once, to the winning span.

    The spans that have started are kept in a heap by precedence; ended ones
    are dropped only when they reach the top, which is then the winner among
    the live ones: O(n log n) however many spans overlap.
    """
    lost: dict[tuple[int, str, str], float] = defaultdict(float)
    points = sorted({p for sp in spans for p in _cuts(sp.start, sp.end)})
    spans = sorted(spans, key=lambda sp: sp.start)
    started: list[tuple[tuple, int, _Span]] = []
    nxt = 0
    for a, b in zip(points, points[1:]):
        while nxt < len(spans) and spans[nxt].start <= a:
            heapq.heappush(started, (spans[nxt].precedence, nxt, spans[nxt]))
            nxt += 1
        while started and started[0][2].end <= a:
            heapq.heappop(started)
        if started:
            win = started[0][2]
            lost[(hour_start(a), win.type, win.app)] += (b - a) * win.density
    return lost


def device_hours(events: list[Disruption], heartbeats: list[Interval], cfg: ModelConfig,
                 window: tuple[float, float] | None = None) -> DeviceHours:
    """Lost time by hour and cause, disruptions and active time of one device.

    ``window`` restricts the figures to ``[start, end)`` (whole hours); events
    and heartbeats outside it still count where they reach into it, which is
    what lets the aggregates recompute one device-day at a time exactly.
    """
    ws, we = window if window else (-math.inf, math.inf)
    activity = _Activity(heartbeats)
    spans = []
    disruptions: dict[tuple[int, str, str], int] = defaultdict(int)
    for ev in events:
        if ws <= ev.start < we:
            disruptions[(hour_start(ev.start), ev.type, ev.app)] += 1
        for sp in _spans(ev, activity, cfg):
            s, e = max(sp.start, ws), min(sp.end, we)
            if e > s:
                spans.append(_Span(s, e, min(sp.density, 1.0), sp.rank, sp.event_start, sp.event_id, sp.type, sp.app))
    active = _active_by_hour(heartbeats, ws, we)
    lost = _sweep(spans)
    # rule 4: never more lost than active in any hour of the device
    by_hour: dict[int, float] = defaultdict(float)
    for (h, _t, _a), v in lost.items():
        by_hour[h] += v
    for key in list(lost):
        h = key[0]
        cap = active.get(h, 0.0)
        if by_hour[h] > cap:
            lost[key] = lost[key] * cap / by_hour[h] if by_hour[h] > 0 else 0.0
        if lost[key] <= 0:
            del lost[key]
    return DeviceHours(lost=dict(lost), disruptions=dict(disruptions), active=active)


def score(lost_s: float, active_s: float) -> float | None:
    """Experience score in 0..1: the share of active time not lost; None without active time."""
    if active_s <= 0:
        return None
    return max(0.0, min(1.0, 1.0 - lost_s / active_s))


def cost(lost_s: float, department: str, cfg: ModelConfig) -> float:
    """Cost of lost seconds in a department, in ``cfg.currency``."""
    return lost_s / HOUR * cfg.hourly_cost_for(department)
