"""Time in applications: the employee's active seconds with each catalogued application in front, as period totals.

Every poll reads which process owns the foreground window (per OS in
``_helpers/focus_*.py``: X11's _NET_ACTIVE_WINDOW, Windows'
GetForegroundWindow, macOS' frontmost application), names its executable
through the catalogue, or "other" for every executable outside it (never by
its own name), and gives that application the employee's active seconds
since the previous poll (agent/activity.py): time with nobody at the
keyboard counts for nothing. Activity is known only once the activity
sensor has looked, so a sample is settled ``2 x [sensors.activity]
interval_s`` after it was taken.

The totals are kept per period of ``period_s`` aligned to the clock (hours by
default) and sent when the period ends: one ``contract.records.Usage`` per
application with focus, its ``start`` the period's, its ``interval_s`` the
period's length. A record always carries the period's whole total so far, and
the collector keeps the largest total per application and period: at a clean
stop ``close()`` sends the totals so far, and the same period is sent again,
complete, at its end. A small state file keeps the open period's totals
(written at most once a minute, and at a stop), so that they survive a
restart or a crash (losing at most the last minute). A period found in the
state file that ended while the agent was stopped is sent at the first poll.
No window title, no document, nothing finer than a period.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from agent.context import sensor_state_file
from agent.state import write_atomic
from agent.sensors._helpers import procfs
from agent.sensors.activity import ActivityConfig
from agent.sensors.base import Sensor, SensorConfig
from contract.records import MAX_APP_LEN, MIN_USAGE_INTERVAL_S, Usage
from contract.settings import setting

if TYPE_CHECKING:
    import logging

OTHER = "other"  # every application outside the catalogue, together
STATE_FILE = "focus.json"
SAVE_EVERY_S = 60.0  # the state file is written at most this often (and at a stop)
MAX_STATE_APPS = 256  # applications kept in the state file (the catalogue's and "other")
DAY_S = 86400


@dataclass
class FocusConfig(SensorConfig):
    interval_s: float = setting(5.0, min=1, max=60, doc="how often the application in front is sampled")
    period_s: float = setting(3600.0, min=MIN_USAGE_INTERVAL_S, max=DAY_S,
                              doc="seconds of each period whose totals are sent, aligned to the clock (divides a day)")
    display: str = setting("", doc="X display to read (Linux; default: $DISPLAY)")

    def __post_init__(self) -> None:
        if DAY_S % self.period_s:
            raise ValueError(f"period_s: {self.period_s:g} must divide a day (900, 1800, 3600, 7200, ... 86400)")


def period_start(ts: float, period_s: float) -> float:
    """The start of the period of ``period_s`` seconds, aligned to the clock (Unix time), that holds ``ts``."""
    return math.floor(ts / period_s) * period_s


@dataclass
class Period:
    """One period's focused seconds per application so far."""

    start: float
    interval_s: float
    totals: dict[str, float] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.interval_s

    def add(self, app: str, seconds: float) -> None:
        if seconds > 0:
            self.totals[app] = min(self.totals.get(app, 0.0) + seconds, self.interval_s)

    def records(self) -> list[Usage]:
        """One record per application with focus, each with its whole total so far."""
        return [Usage(start=self.start, interval_s=self.interval_s, app=app, focus_s=round(total, 1))
                for app, total in sorted(self.totals.items()) if round(total, 1) > 0]

    def to_json(self) -> dict:
        return {"start": self.start, "interval_s": self.interval_s, "totals": self.totals}

    @classmethod
    def from_json(cls, data) -> "Period":
        """The period a state file holds; ValueError if anything in it is out of bounds."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        start, interval = data.get("start"), data.get("interval_s")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (start, interval)) or not MIN_USAGE_INTERVAL_S <= interval <= DAY_S:
            raise ValueError("start or interval_s out of bounds")
        return cls(float(start), float(interval), _seconds_by_app(data.get("totals"), interval))


def _seconds_by_app(value, interval_s: float) -> dict[str, float]:
    if not isinstance(value, dict) or len(value) > MAX_STATE_APPS:
        raise ValueError("totals must be an object of at most %d applications" % MAX_STATE_APPS)
    out = {}
    for app, seconds in value.items():
        if not (isinstance(app, str) and 0 < len(app) <= MAX_APP_LEN and app.isprintable()):
            raise ValueError(f"application name {app!r:.80}")
        if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 <= seconds <= interval_s):
            raise ValueError(f"seconds of {app!r:.80}")
        out[app] = float(seconds)
    return out


def load_period(path: Path, log: "logging.Logger | None" = None) -> Period | None:
    """The open period kept in the state file, None if there is none (or it is unreadable: then logged)."""
    try:
        return Period.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        if log:
            log.warning("focus: %s is unreadable (%s); app time starts again from zero", path, exc)
        return None


class FocusSensor(Sensor):
    """Seconds of activity per application in front, as totals per clock-aligned period."""

    name = "focus"
    Config = FocusConfig
    explain = (
        "Every few seconds notes which program is in front (the one you type into), by its program file only, and "
        "adds the seconds you were active at the computer since the previous look to that program's total. Sends, "
        "once per period (an hour by default), one total per program of your IT department's catalogue and one for "
        "all other programs together, as \"other\". Never window titles, documents, the names of other programs, "
        "or anything finer than the period."
    )

    def __init__(self, config: FocusConfig, ctx):
        super().__init__(config, ctx)
        self.clock = time.time  # the wall clock the periods are aligned to

    @classmethod
    def unavailable(cls, config: FocusConfig) -> str | None:
        why = super().unavailable(config)
        if why:
            return why
        if sys.platform.startswith("linux"):
            from agent.sensors._helpers.x11 import display_problem

            return display_problem(config.display or os.environ.get("DISPLAY", ""))
        if sys.platform.startswith("win32"):
            from agent.sensors._helpers.focus_windows import current_session, session_problem

            return session_problem(current_session())
        from agent.sensors._helpers.focus_macos import LSAPPINFO

        return None if os.path.exists(LSAPPINFO) else f"{LSAPPINFO} not found"

    @classmethod
    def watching(cls, config: FocusConfig) -> list[str]:
        return [f"the program in front, every {config.interval_s:g} s",
                f"totals per {_duration(config.period_s)}, starting on the clock (e.g. at "
                f"{_local_time(period_start(time.time(), config.period_s))})"]

    def start(self) -> None:
        now = self.clock()
        self._source = _open_source(self.config, self.ctx.log)
        self._state = self.ctx.state_path(STATE_FILE)
        activity = self.ctx.sensors.get("activity") or ActivityConfig()
        self._lag_s = 2 * activity.interval_s  # activity is known once the activity sensor has polled
        self._pending: deque[tuple[float, float, str | None]] = deque()  # (from, to, app in front at `to`)
        self._front: tuple[int | None, str | None] = (None, None)  # the last pid in front and its application
        self._late: list = []  # a period that ended while the agent was stopped
        saved = load_period(self._state, self.ctx.log)
        current = period_start(now, self.config.period_s)
        if saved and saved.start == current and saved.interval_s == self.config.period_s:
            self._period = saved
        else:
            self._late = saved.records() if saved else []
            self._period = Period(current, self.config.period_s)
        self._last = self._saved_at = now

    def poll(self) -> list:
        now = self.clock()
        app = self._app_in_front(now)
        records, self._late = self._late, []
        if now > self._last:  # a long gap (suspend, a stalled poll) is not the app seen now: at most two polls
            self._pending.append((max(self._last, now - 2 * self.config.interval_s), now, app))
        elif now < self._last:  # the clock was set back: the samples not settled yet are dropped (a few seconds)
            self._pending.clear()
            if now < self._period.start:  # back before the open period: it is sent as it is; now's period opens
                records += self._next_period(now)  # (the collector keeps the largest total: none counts twice)
        self._last = now
        records += self._settle(now - self._lag_s)
        if records or now - self._saved_at >= SAVE_EVERY_S:
            self._save(now)
        return records

    def close(self) -> list:
        records, self._late = self._late, []
        records += self._settle(self.clock(), close_period=False)
        records += self._period.records()  # the totals so far; the whole period is sent again at its end
        self._save(self.clock())
        self._source.close()
        return records

    def _settle(self, until: float, close_period: bool = True) -> list:
        """Give the samples taken up to ``until`` their active seconds; send the periods that ended."""
        records = []
        while self._pending and self._pending[0][1] <= until:
            records += self._attribute(*self._pending.popleft())
        if close_period and until >= self._period.end and not (self._pending and
                                                                 self._pending[0][0] < self._period.end):
            records += self._next_period(until)
        return records

    def _attribute(self, start: float, end: float, app: str | None) -> list:
        records = []
        while True:
            if start >= self._period.end:  # the sample begins after the period: the period is over
                records += self._next_period(start)
            start = max(start, self._period.start)  # (a sample begun in a period skipped over: that part is lost)
            if start >= end:
                return records
            part_end = min(end, self._period.end)
            if app is not None:
                self._period.add(app, self.ctx.activity.active_seconds(start, part_end))
            start = part_end

    def _next_period(self, ts: float) -> list:
        records = self._period.records()
        self._period = Period(period_start(ts, self.config.period_s), self.config.period_s)
        return records

    def _app_in_front(self, now: float) -> str | None:
        """The catalogued name of the application in front, "other", or None when none is."""
        pid = self._source.pid(now)
        if pid is None:
            return None
        if pid != self._front[0]:
            app = self.ctx.catalogue.lookup(_executable(pid))
            self._front = (pid, app.name if app else OTHER)
        return self._front[1]

    def _save(self, now: float) -> None:
        self._saved_at = now
        try:
            write_atomic(self._state, json.dumps(self._period.to_json()))
        except OSError as exc:  # after a crash, the open period's time is then lost
            self.ctx.log.warning("focus: cannot keep the open period's totals in %s: %s", self._state, exc)

    @classmethod
    def examples(cls) -> list:
        start = period_start(time.time(), 3600.0) - 3600.0
        return [Usage(start=start, interval_s=3600.0, app="Outlook", focus_s=1260.0),
                Usage(start=start, interval_s=3600.0, app=OTHER, focus_s=840.0)]


def _open_source(config: FocusConfig, log):
    """The reader of the foreground process for this OS."""
    if sys.platform.startswith("win32"):
        from agent.sensors._helpers.focus_windows import WindowsForeground

        return WindowsForeground()
    if sys.platform.startswith("darwin"):
        from agent.sensors._helpers.focus_macos import MacForeground

        return MacForeground()
    from agent.sensors._helpers.focus_x11 import X11Foreground

    return X11Foreground(config.display or os.environ.get("DISPLAY", ""), log)


def executable_name(pid: int) -> str:
    """The executable's base name of a process through psutil (Windows, macOS), or '' when it cannot be read."""
    try:
        proc = psutil.Process(pid)
        try:
            return os.path.basename(proc.exe()) or proc.name()
        except psutil.AccessDenied:  # another user's or an elevated process: its name is readable still
            return proc.name()
    except psutil.Error:
        return ""


def _executable(pid: int) -> str:
    if sys.platform.startswith("linux"):
        return procfs.read_exe(pid) or procfs.read_comm(pid)
    return executable_name(pid)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%H:%M %Z")


def explain_lines(config) -> list[str]:
    """For `hinder agent explain` (``config``: the agent's ``AgentConfig``): the applications the focus sensor
    totals and the open period's totals so far, shown also where the sensor cannot run in the shell that asks
    (e.g. without the session's display)."""
    sensor_config = config.sensors.get(FocusSensor.name) or FocusConfig()
    if not sensor_config.enabled:
        return []
    names = [app.name for app in config.apps if app.executables]
    out = ["", "Time in applications (focus):",
           "  Applications it totals: " + ", ".join([*names, f'"{OTHER}" (every other program, together)'])]
    path = sensor_state_file(config.agent.state_dir, STATE_FILE)
    if not path.exists():
        return out + [f"  Totals of the current period: none kept yet ({path})"]
    period = load_period(path)
    if period is None:
        return out + [f"  Totals of the current period: {path} cannot be read by this user, or is damaged"]
    out.append(f"  Totals of the period from {_local_time(period.start)} ({_duration(period.interval_s)}), "
               f"as kept in {path}:")
    out += [f"    - {app}: {seconds / 60:.1f} min" for app, seconds in sorted(period.totals.items())] or ["    none"]
    return out
