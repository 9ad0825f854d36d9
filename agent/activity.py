"""When was the employee active at the device? The impact model's denominator.

The activity sensor (per OS: last input time, session lock state, or configured
working hours as a fallback) marks spans of time as active; the rest of the
agent asks how many active seconds fell inside an interval: the heartbeat for
its interval, the runner for each disruption event.
"""

from __future__ import annotations

import threading
import time


class ActivityTracker:
    """Thread-safe record of active spans over the recent past (default 7 days)."""

    def __init__(self, horizon_s: float = 7 * 86400):
        self._spans: list[list[float]] = []  # sorted, non-overlapping [start, end]
        self._lock = threading.Lock()
        self._horizon = horizon_s

    def mark_active(self, start: float, end: float) -> None:
        """Record that the employee was active from ``start`` to ``end``."""
        if end <= start:
            return
        with self._lock:
            spans = self._spans
            merged = [start, end]
            keep = []
            for s in spans:
                if s[1] < merged[0] or s[0] > merged[1]:
                    keep.append(s)
                else:
                    merged = [min(s[0], merged[0]), max(s[1], merged[1])]
            keep.append(merged)
            keep.sort()
            cutoff = time.time() - self._horizon
            self._spans = [s for s in keep if s[1] >= cutoff]

    def active_seconds(self, start: float, end: float) -> float:
        """Active seconds inside [start, end]."""
        with self._lock:
            return sum(max(0.0, min(e, end) - max(s, start)) for s, e in self._spans)
