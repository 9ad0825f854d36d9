"""Hangs on Linux: catalogued processes stuck in uninterruptible sleep (D state).

Linux has no system-wide "not responding" signal for applications (GUI
freezes on X11 are hang_x11's; see docs/sensors.md). What the kernel does
show is a process blocked in uninterruptible sleep, typically on a dead
network file system, a stalled disk or a hung driver, during which the
application cannot react to anything.
Every poll reads the state of the catalogued applications' processes; a
process seen in D state on every poll for longer than its application's
``hang_threshold_s`` is hung. The ``hang`` event is sent when it recovers or
exits, and lasts from the first to the last poll that saw it stuck.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent.catalogue import App
from agent.sensors._helpers import procfs
from agent.sensors._helpers.hang_tracker import HangTracker, Stuck
from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

SOURCE = "d_state"


@dataclass
class HangLinuxConfig(SensorConfig):
    interval_s: float = setting(2.0, min=1, max=60, doc="how often the catalogued processes' states are read")
    rescan_s: float = setting(15.0, min=1, max=3600, doc="how often to look for newly started catalogued processes")


class HangLinuxSensor(Sensor):
    """Catalogued processes blocked in uninterruptible sleep beyond their hang threshold."""

    name = "hang_linux"
    Config = HangLinuxConfig
    platforms = ("linux",)
    explain = (
        "Every few seconds reads the scheduler state of the catalogued applications' processes. Sends a 'hang' "
        "when one stays blocked (uninterruptible sleep) beyond its threshold: application, program name and the "
        "version of the package that installed it, process id, how long. Nothing about other programs."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._watched: dict[int, App] = {}  # pid -> catalogued app
        self._paths: dict[int, str] = {}  # pid -> executable path
        self._tracker = HangTracker(SOURCE)
        self._next_scan = 0.0

    def poll(self):
        now = time.time()
        if not self.ctx.catalogue.names_executables:
            return []  # apps known only by their URLs have no processes to watch: no /proc scan
        if now >= self._next_scan:
            self._scan()
            self._next_scan = now + self.config.rescan_s
        states = {pid: procfs.read_state(pid) for pid in self._watched}
        stuck = {pid: Stuck(app.name, procfs.exe_name(self._paths[pid]), app.hang_threshold_s, self._paths[pid])
                 for pid, app in self._watched.items() if states[pid] == "D"}
        events = self._tracker.observe(now, stuck, lambda pid: states[pid] in (None, "Z"))
        for pid, state in states.items():
            if state in (None, "Z"):
                del self._watched[pid], self._paths[pid]
        return events

    def _scan(self) -> None:
        for pid in procfs.pids():
            if pid not in self._watched:
                path = procfs.read_exe_path(pid)
                app = self.ctx.catalogue.lookup(procfs.exe_name(path))
                if app:
                    self._watched[pid], self._paths[pid] = app, path

    @classmethod
    def examples(cls):
        return [Event(type="hang", app="LibreOffice", start=time.time() - 40, duration_s=32.0,
                      details={"source": SOURCE, "exe": "soffice.bin", "pid": 4242, "threshold_s": 10.0,
                               "ended": "responding", "app_version": "4:7.4.7-1+deb12u5"})]
