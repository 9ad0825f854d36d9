"""The foreground application on X11: the root window's _NET_ACTIVE_WINDOW, then that window's _NET_WM_PID.

Window managers that follow EWMH (mutter, KWin, xfwm4, openbox, ...) keep
the focused client window in the root's _NET_ACTIVE_WINDOW. A window
without _NET_WM_PID, or of a client on another host (WM_CLIENT_MACHINE),
has no local process: no application is in front then. Under Wayland, the
compositor sets the XWayland root's property only while an X11 window has
the focus, so native Wayland windows are never seen (docs: the limits).
"""

from __future__ import annotations

import logging

from agent.sensors._helpers.x11 import Display, X11Unavailable

_ATOMS = ("_NET_ACTIVE_WINDOW", "_NET_WM_PID", "WM_CLIENT_MACHINE")
REOPEN_S = 60.0  # how often a lost or missing display is looked for again


class X11Foreground:
    """Reads the foreground process of one X display; reconnects when the display goes away."""

    def __init__(self, display_name: str, log: logging.Logger):
        self._name, self._log = display_name, log
        self._display: Display | None = None
        self._retry_at = 0.0

    def pid(self, now: float) -> int | None:
        """The process id of the focused window's client, None when none (or no display) is known."""
        d = self._display
        if d is not None and d.dead:
            d.close()
            self._display = d = None
        if d is None:
            if now < self._retry_at:
                return None
            d = self._connect(now)
            if d is None:
                return None
        active = d.property(d.root, self._atoms["_NET_ACTIVE_WINDOW"])
        if not active or not active[0]:
            return None  # nothing focused, or no EWMH window manager
        return d.local_pid(active[0], self._atoms)

    def _connect(self, now: float) -> Display | None:
        self._retry_at = now + REOPEN_S
        try:
            self._display = Display.open(self._name)
        except X11Unavailable as exc:
            self._log.warning("focus: %s; trying again in %.0f s", exc, REOPEN_S)
            return None
        self._atoms = self._display.atoms(_ATOMS)
        return self._display

    def close(self) -> None:
        if self._display is not None:
            self._display.close()
            self._display = None
