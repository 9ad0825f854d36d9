"""Employee activity: was someone working at the device? Only idle seconds are read.

Sources, per OS (``source = "auto"`` picks the first that works):

- Linux: X11 ``XScreenSaverQueryInfo`` on ``$DISPLAY`` (or ``display``), else
  systemd-logind's IdleHint/LockedHint of the active session (Wayland, services);
- Windows: GetLastInputInfo in the user's session, ``query user`` from a service;
- macOS: ``HIDIdleTime`` from ``ioreg``;
- fallback, when none can be read: configured working hours (``working_hours``
  on ``working_days``, local time) count as active, the rest as idle.

A source that stops working (the X display went away, the session ended) is
replaced by the fallback for that period, and the sources are looked for again
every minute.

The employee counts as active at a moment when there was input within the
last ``idle_threshold_s`` and the session is not locked. Each poll marks the
active part of the time since the previous poll in ``ctx.activity``, from
which the runner fills ``active_s`` of events and heartbeats. Nothing typed,
no window, no application is ever read. No events are emitted.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass

from agent.sensors.base import Sensor, SensorConfig
from contract.settings import setting

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SOURCES = ("auto", "x11", "logind", "windows", "macos", "working_hours")
_HOURS = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_RETRY_S = 60.0  # how often a missing or failed idle source is looked for again


def working_hours_problem(hours: str, days: list[str]) -> str | None:
    """Why ``hours`` (HH:MM-HH:MM, local time) on ``days`` is not a working time, or None if it is one."""
    m = _HOURS.match(hours)
    if not m or int(m[1]) > 23 or int(m[3]) > 24 or int(m[2]) > 59 or int(m[4]) > 59 \
            or (int(m[1]), int(m[2])) >= (int(m[3]), int(m[4])):
        return f"working_hours: {hours!r} is not HH:MM-HH:MM with start before end"
    for i, day in enumerate(days):
        if day not in DAYS:
            return f"working_days[{i}]: {day!r} is not one of {', '.join(DAYS)}"
    return None


def in_working_hours(hours: str, days: list[str], ts: float) -> bool:
    """Whether the local time of ``ts`` falls in ``hours`` (checked by working_hours_problem) on one of ``days``."""
    t = time.localtime(ts)
    m = _HOURS.match(hours)
    minute = t.tm_hour * 60 + t.tm_min
    return DAYS[t.tm_wday] in days and int(m[1]) * 60 + int(m[2]) <= minute < int(m[3]) * 60 + int(m[4])


@dataclass
class ActivityConfig(SensorConfig):
    interval_s: float = setting(10.0, min=0.1, max=600, doc="seconds between two idle-time readings")
    idle_threshold_s: float = setting(300.0, min=1, max=86400, doc="input within this many seconds counts as active")
    source: str = setting("auto", choices=SOURCES, doc="where idle time comes from")
    display: str = setting("", doc="X display to read (default: $DISPLAY)")
    working_hours: str = setting("08:00-18:00", doc="fallback: local hours counted as active, HH:MM-HH:MM")
    working_days: list[str] = setting(default_factory=lambda: list(DAYS[:5]), doc="fallback: days counted as active")

    def __post_init__(self) -> None:
        problem = working_hours_problem(self.working_hours, self.working_days)
        if problem:
            raise ValueError(problem)

    def in_working_hours(self, ts: float) -> bool:
        return in_working_hours(self.working_hours, self.working_days, ts)


def open_reader(config: ActivityConfig):
    """The idle-time reader for this OS and config, or None for the working-hours fallback."""
    want = config.source
    if want == "working_hours":
        return None
    candidates = []
    if sys.platform.startswith("linux"):
        candidates = ["x11", "logind"]
    elif sys.platform == "win32":
        candidates = ["windows"]
    elif sys.platform == "darwin":
        candidates = ["macos"]
    for name in candidates if want == "auto" else [want]:
        reader = _open(name, config)
        if reader:
            return reader
    return None


def _open(name: str, config: ActivityConfig):
    if name == "x11":
        display = config.display or os.environ.get("DISPLAY")
        if not display:
            return None  # before loading ctypes and Xlib
        from agent.sensors._helpers.idle_x11 import X11Idle
        return X11Idle.open(display)
    if name == "logind":
        from agent.sensors._helpers.idle_logind import LogindIdle
        return LogindIdle.open()
    if name == "windows":
        from agent.sensors._helpers.idle_windows import WindowsIdle
        return WindowsIdle.open()
    if name == "macos":
        from agent.sensors._helpers.idle_macos import MacIdle
        return MacIdle.open()
    return None


class ActivitySensor(Sensor):
    """Marks the time the employee was active; the denominator of every lost-time figure."""

    name = "activity"
    Config = ActivityConfig
    explain = ("Reads how many seconds ago the keyboard or mouse was last used (never what was typed, never which "
               "window or program), and whether the session is locked. Sends only the number of active seconds per "
               "interval, so that disruptions while you are away cost nothing.")

    def start(self) -> None:
        self._reader = None
        self._open_source()
        if self._reader is None and self.config.source not in ("auto", "working_hours"):
            self.ctx.log.warning("activity source %s unavailable; using working hours", self.config.source)
        self._last = time.time()
        self._retry_at = self._last + _RETRY_S

    def _open_source(self) -> None:
        if self._reader:
            self._reader.close()
        self._reader = open_reader(self.config)
        self.ctx.heartbeat_details["activity_source"] = self._reader.name if self._reader else "working_hours"

    def _reopen(self, now: float) -> None:
        """The source failed (session ended, display gone) or never worked: look for one again."""
        self._retry_at = now + _RETRY_S
        if self.config.source != "working_hours":
            self._open_source()

    def poll(self) -> list:
        now, prev = time.time(), self._last
        self._last = now
        reading = self._reader.read() if self._reader else None
        if reading is None and now >= self._retry_at:
            self._reopen(now)
        if reading is None:
            if self.config.in_working_hours(now):
                self.ctx.activity.mark_active(prev, now)
            return []
        idle_s, locked = reading
        if not locked:
            self.ctx.activity.mark_active(prev, min(now, now - idle_s + self.config.idle_threshold_s))
        return []

    def close(self) -> None:
        if self._reader:
            self._reader.close()
