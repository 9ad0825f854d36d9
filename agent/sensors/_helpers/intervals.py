"""Disruption intervals built from periodic samples, shared by the performance sensors.

An interval opens on the first bad sample and closes on the first good one:
``start`` is the time of the first bad sample, ``end`` the time of the first
good sample after it. Each sample covers the time until the next one, so a
sample's *width* is the gap to its successor (the last one reaches the end).
Intervals are keyed (one per probed URL, per pressure resource...), can change
kind mid-way (slow -> unavailable closes one and opens the other), are split
after ``split_after_s`` so that a day-long outage is visible before it ends,
and are closed with ``open_at_stop`` when the agent stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable


@dataclass
class Sample:
    """One bad observation: when, and what the sensor measured."""

    time: float
    value: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Interval:
    """A closed (or cut) disruption interval with its bad samples."""

    key: Hashable
    kind: str
    start: float
    end: float
    samples: list[Sample]
    open_at_stop: bool = False
    split: bool = False

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)

    def widths(self) -> list[float]:
        """Seconds each sample stands for: until the next sample, the last one until the end."""
        times = [s.time for s in self.samples] + [self.end]
        return [max(0.0, b - a) for a, b in zip(times, times[1:])]

    def values(self) -> list[float]:
        return [s.value for s in self.samples]

    def worst(self) -> float:
        return max(self.values(), default=0.0)

    def median(self) -> float:
        vals = sorted(self.values())
        if not vals:
            return 0.0
        mid = len(vals) // 2  # the statistics module would cost the agent 0.5 MiB (decimal, fractions)
        return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2

    def weighted_excess(self, share) -> float:
        """Sum of ``width x share(sample)``: the part of the interval lost, per sample."""
        return sum(w * min(1.0, max(0.0, share(s))) for w, s in zip(self.widths(), self.samples))


# Beyond this many samples an interval keeps every other one: enough for medians, bounded memory.
_MAX_SAMPLES = 2048


@dataclass
class _Open:
    kind: str
    start: float
    samples: list[Sample]


class Intervals:
    """Open/close bookkeeping for keyed intervals; returns intervals as they close."""

    def __init__(self, split_after_s: float = 3600.0):
        self.split_after_s = split_after_s
        self._open: dict[Hashable, _Open] = {}

    def is_open(self, key: Hashable) -> bool:
        return key in self._open

    def open_kind(self, key: Hashable) -> str | None:
        cur = self._open.get(key)
        return cur.kind if cur else None

    def bad(self, key: Hashable, kind: str, sample: Sample) -> list[Interval]:
        """Record a bad sample; returns intervals closed by a change of kind or by a split."""
        closed: list[Interval] = []
        cur = self._open.get(key)
        if cur and cur.kind != kind:
            closed.append(self._close(key, sample.time))
            cur = None
        elif cur and sample.time - cur.start >= self.split_after_s:
            closed.append(self._close(key, sample.time, split=True))
            cur = None
        if cur is None:
            cur = self._open[key] = _Open(kind, sample.time, [])
        cur.samples.append(sample)
        if len(cur.samples) > _MAX_SAMPLES:
            cur.samples = cur.samples[::2]
        return closed

    def good(self, key: Hashable, time: float) -> Interval | None:
        """Record a good sample; returns the interval it closes, if one was open."""
        return self._close(key, time) if key in self._open else None

    def stop(self, time: float) -> list[Interval]:
        """Close every open interval at ``time`` (the agent is stopping)."""
        out = [self._close(key, time) for key in list(self._open)]
        for iv in out:
            iv.open_at_stop = True
        return out

    def _close(self, key: Hashable, end: float, split: bool = False) -> Interval:
        cur = self._open.pop(key)
        return Interval(key, cur.kind, cur.start, max(end, cur.start), cur.samples, split=split)


def base_details(iv: Interval) -> dict[str, Any]:
    """Details every interval event carries: how it ended."""
    d: dict[str, Any] = {"samples": len(iv.samples)}
    if iv.open_at_stop:
        d["open_at_stop"] = True
    if iv.split:
        d["continues"] = True
    return d
