"""CPU time of a sensor's poll as the agent runs it (``time.thread_time``: the calling thread only), and its summary."""

from __future__ import annotations

import statistics
import time


def cpu_ms(fn, polls: int, before_each=None) -> list[float]:
    """Milliseconds of this thread's CPU time of each of ``polls`` calls of ``fn``; ``before_each(i)`` runs
    before call ``i``, outside the measured time."""
    costs = []
    for i in range(polls):
        if before_each:
            before_each(i)
        before = time.thread_time()
        fn()
        costs.append((time.thread_time() - before) * 1000)
    return costs


def summary(costs: list[float]) -> str:
    """'median X ms, p95 Y ms CPU'."""
    costs = sorted(costs)
    return f"median {statistics.median(costs):.3f} ms, p95 {costs[max(0, int(len(costs) * 0.95) - 1)]:.3f} ms CPU"
