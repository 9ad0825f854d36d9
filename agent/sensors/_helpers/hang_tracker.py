"""Turns repeated "is this process stuck right now?" observations into hang events.

Shared by the per-OS hang sensors: each poll they pass the processes they see
stuck; a process stuck on consecutive polls for at least its threshold becomes
one ``hang`` event when it recovers or disappears, lasting from the first to
the last observation (minus ``lead_s`` where the OS only calls a window hung
after it has already been unresponsive that long). A hung process whose
executable's path is known carries its application's version
(``details.app_version``, looked up when the hang ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from agent.sensors._helpers.appversion import add_version
from contract.records import Event


@dataclass
class Stuck:
    """What a sensor knows about one process it sees stuck now."""

    app: str
    exe: str
    threshold_s: float
    path: str = ""  # the executable's full path, where known: for its version


@dataclass
class _Open:
    first: float
    last: float
    stuck: Stuck


class HangTracker:
    """Open hangs per process id; closes them into events."""

    def __init__(self, source: str, lead_s: float = 0.0):
        self.source = source
        self.lead_s = lead_s
        self._open: dict[int, _Open] = {}

    def observe(self, now: float, stuck: dict[int, Stuck], is_gone: Callable[[int], bool]) -> list[Event]:
        """Record one round of observations; return the hangs that ended."""
        for pid, info in stuck.items():
            current = self._open.get(pid)
            if current is None or current.stuck.exe != info.exe:
                self._open[pid] = _Open(now - self.lead_s, now, info)
            else:
                current.last = now
        events = []
        for pid in [p for p in self._open if p not in stuck]:
            hang = self._open.pop(pid)
            duration = hang.last - hang.first
            if duration >= hang.stuck.threshold_s:
                ended = "exited" if is_gone(pid) else "responding"
                events.append(hang_event(self.source, pid, hang.stuck, hang.first, duration, ended))
        return events


def hang_event(source: str, pid: int, stuck: Stuck, start: float, duration_s: float, ended: str, **extra) -> Event:
    """The ``hang`` event of one process, in the details shape all hang sensors share."""
    details = {"source": source, "exe": stuck.exe, "pid": pid, "threshold_s": stuck.threshold_s, "ended": ended,
               **extra}
    add_version(details, stuck.path)
    return Event(type="hang", app=stuck.app, start=start, duration_s=duration_s, severity="error", details=details)
