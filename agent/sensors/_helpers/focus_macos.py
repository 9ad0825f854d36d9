"""The foreground application on macOS: ``lsappinfo front``, then ``lsappinfo info -only pid``.

``lsappinfo`` asks LaunchServices of the caller's login session, without
pyobjc and without an Automation or Accessibility permission. An agent
running as root (a LaunchDaemon) is outside every login session, so it asks
in the session of the user at the console (the owner of /dev/console)
through ``launchctl asuser UID``; at the login window (console owned by
root) nothing is in front.
"""

from __future__ import annotations

import os
import subprocess

from agent.sensors._helpers import parse_lsappinfo
from agent.sensors._helpers.console_macos import console_uid

LSAPPINFO = "/usr/bin/lsappinfo"
_TIMEOUT_S = 5.0


class MacForeground:
    """Reads the frontmost application's process id through lsappinfo (macOS only)."""

    def pid(self, now: float) -> int | None:
        """The frontmost application's process id, None when none is in front or lsappinfo does not answer."""
        prefix: list[str] = []
        if os.geteuid() == 0:
            uid = console_uid()
            if not uid:
                return None  # the login window, or no console: nobody works at the screen
            prefix = ["/bin/launchctl", "asuser", str(uid)]
        asn = parse_lsappinfo.front_asn(self._run([*prefix, LSAPPINFO, "front"]))
        if asn is None:
            return None
        return parse_lsappinfo.pid(self._run([*prefix, LSAPPINFO, "info", "-only", "pid", asn]))

    @staticmethod
    def _run(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, errors="replace").stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    def close(self) -> None:
        pass
