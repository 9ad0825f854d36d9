"""Boot and sign-in waiting time: one ``boot`` per boot and one ``logon`` per sign-in, as measurements.

Per OS a reader (``_helpers/boot_<os>.py``) gives this boot, from power-on (or the earliest moment the OS
knows) to the system up for a user (the sign-in screen), and the graphical sign-ins since, from the
credentials accepted (the session created) to a usable desktop. Each is sent once, with the phases the OS
recorded and ``details.excess_s``, the seconds beyond the configured threshold: the impact model charges
that excess (``Cost.EXCESS``), times ``active_s / duration_s``. A sign-in is someone waiting: its
``active_s`` is its duration. A boot is someone's waiting only when a sign-in followed within
``attended_within_s`` of its end: else its ``active_s`` is 0 (a machine that booted unattended costs no one),
which is why a boot is sent only once a sign-in came or that time passed.

The keys of what was sent (the boot's id, each session's) are kept in the state directory, so a restarted
agent sends nothing twice, and an agent started long after the boot still sends it when the OS kept it
(up to a week later: older ones are history).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

from agent.sensors._helpers.boot_common import Boot, Logon
from agent.sensors.base import Sensor, SensorConfig
from agent.state import write_atomic
from contract.events import EXCESS_S
from contract.records import MAX_DURATION_S, Event
from contract.settings import setting

STATE_FILE = "boot.json"
MAX_KEPT = 64  # keys of boots and sessions sent (or given up), the newest kept
MAX_AGE_S = 7 * 86400.0  # a boot or sign-in older than this when first seen is history: not sent
DISPLAY_PROCESSES = ["gdm", "gdm3", "sddm", "lightdm", "lxdm", "slim", "greetd", "Xorg", "Xwayland", "loginwindow"]
DESKTOP_PROCESSES = ["gnome-shell", "plasmashell", "xfce4-panel", "xfdesktop", "cinnamon", "mate-panel", "lxpanel",
                     "lxqt-panel", "budgie-panel", "kwin_wayland", "kwin_x11", "sway", "Hyprland", "i3", "openbox",
                     "fluxbox", "icewm", "enlightenment", "Dock"]


@dataclass
class BootConfig(SensorConfig):
    interval_s: float = setting(30.0, min=1, max=3600, doc="how often the boot and new sign-ins are looked for")
    boot_threshold_s: float = setting(60.0, min=0, max=3600,
                                      doc="a boot (power-on to the sign-in screen) longer than this is slow: "
                                          "the time beyond it is lost (Windows' own 'minor' boot threshold)")
    logon_threshold_s: float = setting(60.0, min=0, max=3600,
                                       doc="a sign-in (credentials accepted to a usable desktop) longer than this is "
                                           "slow: the time beyond it is lost")
    attended_within_s: float = setting(300.0, min=0, max=3600,
                                       doc="a boot counts as someone's waiting when a sign-in followed within this "
                                           "long of the sign-in screen appearing")
    max_boot_s: float = setting(900.0, min=30, max=7200,
                                doc="without systemd (Linux) or on macOS: a sign-in screen process started later than "
                                    "this after the kernel is not the boot's")
    max_logon_s: float = setting(900.0, min=10, max=7200,
                                 doc="a sign-in whose desktop did not start within this long is not measured")
    display_processes: list[str] = setting(default_factory=lambda: list(DISPLAY_PROCESSES),
                                           doc="processes whose start means the sign-in screen is up (Linux without "
                                               "systemd, macOS)")
    desktop_processes: list[str] = setting(default_factory=lambda: list(DESKTOP_PROCESSES),
                                           doc="processes whose start in a session means its desktop is usable "
                                               "(shells, panels, window managers; Linux and macOS)")


def boot_event(boot: Boot, attended: bool, threshold_s: float) -> Event:
    """The ``boot`` measurement: waited for (``active_s`` = its duration) only if ``attended``."""
    duration = _bounded(boot.ready - boot.start)
    details = _details(duration, threshold_s, boot.source, boot.phases)
    details["attended"] = attended
    return Event(type="boot", app="system", start=boot.start, duration_s=duration, severity=_severity(details),
                 active_s=duration if attended else 0.0, details=details)


def logon_event(logon: Logon, threshold_s: float) -> Event:
    """The ``logon`` measurement: someone typed their credentials, so all of it was waited for."""
    duration = _bounded((logon.ready or logon.start) - logon.start)
    details = _details(duration, threshold_s, logon.source, logon.phases)
    return Event(type="logon", app="session", start=logon.start, duration_s=duration, severity=_severity(details),
                 active_s=duration, details=details)


def _bounded(seconds: float) -> float:
    return round(min(max(seconds, 0.0), MAX_DURATION_S), 3)


def _details(duration: float, threshold_s: float, source: str, phases: dict[str, float]) -> dict:
    return {EXCESS_S: round(max(0.0, duration - threshold_s), 3), "threshold_s": threshold_s, "source": source,
            **{k: _bounded(v) for k, v in phases.items()}}


def _severity(details: dict) -> str:
    return "warning" if details[EXCESS_S] > 0 else "info"


class BootSensor(Sensor):
    """How long the boot and each sign-in kept someone waiting."""

    name = "boot"
    Config = BootConfig
    explain = (
        "Once per start of the computer: how long it took from power-on to the sign-in screen, its phases as the "
        "system recorded them (firmware, loader, kernel, start-up), and whether someone signed in within a few "
        "minutes. Once per sign-in: how long from the password accepted to a usable desktop. Only durations and "
        "where they were read; never who signed in."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._path = ctx.state_path(STATE_FILE)
        self._done: list[str] = []
        self._reader = self._make_reader()
        self.clock = time.time  # tests set it to read recorded boots at their time

    def _make_reader(self):
        c = self.config
        if sys.platform == "win32":
            from agent.sensors._helpers.boot_windows import WindowsReader

            return WindowsReader()
        if sys.platform == "darwin":
            from agent.sensors._helpers.boot_macos import MacReader

            return MacReader(c.display_processes, c.desktop_processes, c.max_boot_s, c.max_logon_s)
        from agent.sensors._helpers.boot_linux import LinuxReader

        return LinuxReader(c.display_processes, c.desktop_processes, c.max_boot_s, c.max_logon_s)

    def start(self):
        try:
            kept = json.loads(self._path.read_text(encoding="utf-8")).get("done", [])
            self._done = [k for k in kept if isinstance(k, str)][-MAX_KEPT:]
        except FileNotFoundError:
            self._done = []
        except (ValueError, TypeError, AttributeError):
            self.ctx.log.warning("%s is unreadable; boots and sign-ins already sent may be sent again", self._path)
            self._done = []

    def poll(self):
        now, done, cfg = self.clock(), set(self._done), self.config
        boot, logons = self._reader.read(self.ctx.run_state.current.boot_id, done)
        events, finished = [], []
        for logon in logons:
            if logon.key in done:
                continue
            if now - logon.start > MAX_AGE_S:
                finished.append(logon.key)
            elif logon.ready is not None:
                events.append(logon_event(logon, cfg.logon_threshold_s))
                finished.append(logon.key)
            elif now - logon.start > cfg.max_logon_s:  # no desktop came up: not a sign-in we can measure
                finished.append(logon.key)
        if boot is not None and boot.key not in done:
            first = min((lg.start for lg in logons if lg.start >= boot.start), default=None)
            attended = first is not None and first - boot.ready <= cfg.attended_within_s
            if attended or now - boot.ready > cfg.attended_within_s:
                if now - boot.start <= MAX_AGE_S:
                    events.insert(0, boot_event(boot, attended, cfg.boot_threshold_s))
                finished.append(boot.key)
        if finished:
            self._done = (self._done + finished)[-MAX_KEPT:]
            write_atomic(self._path, json.dumps({"done": self._done}))
        return events

    @classmethod
    def examples(cls):
        now = time.time()
        boot = Boot(key="example", start=now - 900, ready=now - 900 + 74.2, source="systemd",
                    phases={"firmware_s": 8.1, "loader_s": 2.4, "kernel_s": 3.2, "initrd_s": 4.9,
                            "userspace_s": 55.6})
        logon = Logon(key="example", start=now - 780, ready=now - 780 + 41.5, source="logind")
        return [boot_event(boot, True, BootConfig.boot_threshold_s),
                logon_event(logon, BootConfig.logon_threshold_s)]
