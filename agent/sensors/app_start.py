"""Application start time of catalogued applications: a slow start is a ``slow_app`` event.

A process of a catalogued executable that appears while the agent runs is
followed from its creation until its CPU use settles (below ``settle_cpu`` of
one CPU for ``settle_samples`` polls in a row): that is when it is ready for
the employee on every OS, where "first window shown" is not measurable from a
service. A start longer than the app's ``start_threshold_s`` is reported
(``details.kind = "start"``) with ``excess_s = start_s - threshold``, the part
beyond the threshold. Starts that have not settled after ``max_wait_s`` are
dropped, as are processes that exit before settling. The event carries the
application's version (``details.app_version``) where its executable has one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from agent.catalogue import App
from agent.sensors._helpers import procfs
from agent.sensors._helpers.appversion import add_version
from agent.sensors.base import Sensor, SensorConfig
from contract.events import APP_VERSION
from contract.records import Event
from contract.settings import setting


@dataclass
class AppStartConfig(SensorConfig):
    interval_s: float = setting(2.0, min=0.1, max=60, doc="seconds between two looks at new processes")
    settle_cpu: float = setting(0.05, min=0.001, max=1, doc="CPU share of one core below which a start is over")
    settle_samples: int = setting(2, min=1, max=20, doc="polls in a row below settle_cpu")
    max_wait_s: float = setting(180.0, min=1, max=3600, doc="starts not settled after this are dropped")


@dataclass
class _Start:
    app: App
    proc: psutil.Process
    created: float
    cpu_s: float
    at: float
    path: str  # the executable's, for its version ('' where the OS does not tell)
    low_since: float | None = None
    low_count: int = 0


def _exe_path(proc: psutil.Process) -> str:
    """The process's executable path, or '' where it is not ours to read."""
    try:
        return proc.exe()
    except psutil.Error:
        return ""


class AppStartSensor(Sensor):
    """Measures how long catalogued applications take to start, reports slow starts."""

    name = "app_start"
    Config = AppStartConfig
    explain = ("When a program your IT department listed starts, measures how long it takes until it stops "
               "working flat out (its start time). Sends the application name and the start time when it was "
               "slower than the configured limit, with the program's version. Nothing about what the program "
               "shows or does.")

    def start(self) -> None:
        self._watching = self.ctx.catalogue.names_executables
        self._seen = set(psutil.pids()) if self._watching else set()
        self._starts: dict[int, _Start] = {}

    def poll(self) -> list[Event]:
        now = time.time()
        if self._watching:
            self._find_new(now)
        events = []
        for pid, st in list(self._starts.items()):
            try:
                times = st.proc.cpu_times()
            except psutil.Error:
                del self._starts[pid]
                continue
            cpu_s = times.user + times.system
            share = (cpu_s - st.cpu_s) / max(1e-3, now - st.at)
            if share < self.config.settle_cpu:
                st.low_since = st.at if st.low_since is None else st.low_since
                st.low_count += 1
            else:
                st.low_since, st.low_count = None, 0
            st.cpu_s, st.at = cpu_s, now
            if st.low_count >= self.config.settle_samples:
                del self._starts[pid]
                event = self._event(st, st.low_since - st.created)
                if event:
                    events.append(event)
            elif now - st.created > self.config.max_wait_s:
                del self._starts[pid]
        return events

    def _find_new(self, now: float) -> None:
        pids = set(psutil.pids())
        new, self._seen = pids - self._seen, pids
        for pid in new:
            try:
                proc = psutil.Process(pid)
                app = self.ctx.catalogue.lookup(proc.name())
                if app is None:
                    continue
                times = proc.cpu_times()
                self._starts[pid] = _Start(app, proc, procfs.started(proc), times.user + times.system, now,
                                           _exe_path(proc))
            except psutil.Error:
                continue

    def _event(self, st: _Start, start_s: float) -> Event | None:
        threshold = st.app.start_threshold_s
        if start_s <= threshold:
            return None
        details = {"kind": "start", "start_s": round(start_s, 3), "threshold_s": threshold,
                   "excess_s": round(start_s - threshold, 3)}
        add_version(details, st.path)
        return Event(type="slow_app", app=st.app.name, start=st.created, duration_s=round(start_s, 3),
                     severity="warning", details=details)

    @classmethod
    def examples(cls) -> list[Event]:
        return [Event(type="slow_app", app="Outlook", start=time.time() - 60, duration_s=24.5, severity="warning",
                      details={"kind": "start", "start_s": 24.5, "threshold_s": 10.0, "excess_s": 14.5,
                               APP_VERSION: "16.0.17928.20156"})]
