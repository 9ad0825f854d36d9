"""Boot and sign-in times on macOS: the kernel's boot time, loginwindow, and the console sessions of utmpx.

Boot: from ``kern.boottime`` (psutil's ``boot_time``; the firmware's time before it is not known) to the
start of ``loginwindow``, which draws the sign-in window. Sign-ins: the ``console`` records of utmpx (what
``who`` and ``last`` read; psutil's ``users``), the desktop usable when the user's Dock (or another of the
desktop processes) started.
"""

from __future__ import annotations

import time

import psutil

from agent.sensors._helpers.boot_common import Boot, Logon, boot_from_processes, first_start

CONSOLE = "console"  # utmpx's line for the graphical session (ssh and terminals have ttys*)


class MacReader:
    """Reads this boot and the console sign-ins since."""

    def __init__(self, display_processes: list[str], desktop_processes: list[str], max_boot_s: float,
                 max_logon_s: float):
        self.display_processes, self.desktop_processes = display_processes, desktop_processes
        self.max_boot_s, self.max_logon_s = max_boot_s, max_logon_s
        self._boot_unknown = False

    def read(self, boot_key: str, done: set[str]) -> tuple[Boot | None, list[Logon]]:
        """This boot (None until loginwindow started, or once in ``done``) and the console sign-ins since."""
        kernel = psutil.boot_time()
        boot = None
        if boot_key not in done and not self._boot_unknown:
            boot, self._boot_unknown = boot_from_processes(boot_key, kernel, self.display_processes, self.max_boot_s,
                                                           "kern.boottime", time.time())
        logons = []
        for user in psutil.users():
            if user.terminal != CONSOLE or user.started < kernel:
                continue
            key = f"console:{user.started:.0f}"
            ready = None
            if key not in done:
                ready = first_start(self.desktop_processes, user.started, user.started + self.max_logon_s,
                                    user=user.name)
            logons.append(Logon(key=key, start=user.started, ready=ready, source="utmpx"))
        return boot, logons
