"""X11 idle time: XScreenSaverQueryInfo from libXss, through ctypes.

The X server counts milliseconds since the last keyboard or pointer event on
the display; we read that number and nothing else (no window, no key). The
connection comes from ``x11.Display``, which keeps Xlib from exiting the
agent when the display goes away (the reader then reports None).
"""

from __future__ import annotations

import ctypes
import ctypes.util

from agent.sensors._helpers.x11 import Display, X11Unavailable


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [("window", ctypes.c_ulong), ("state", ctypes.c_int), ("kind", ctypes.c_int),
                ("til_or_since", ctypes.c_ulong), ("idle", ctypes.c_ulong), ("event_mask", ctypes.c_ulong)]


class X11Idle:
    """Idle seconds of one X display; ``open`` returns None when it cannot be read."""

    name = "x11"

    def __init__(self, xss, display: Display):
        self._xss, self._display = xss, display
        self._info = xss.XScreenSaverAllocInfo()

    @property
    def dead(self) -> bool:
        return self._display.dead

    @classmethod
    def open(cls, display_name: str | None) -> "X11Idle | None":
        path = ctypes.util.find_library("Xss")
        if not display_name or not path:
            return None
        try:
            display = Display.open(display_name)
        except X11Unavailable:
            return None
        xss = ctypes.CDLL(path)
        xss.XScreenSaverQueryExtension.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                                   ctypes.POINTER(ctypes.c_int)]
        xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
        xss.XScreenSaverQueryInfo.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_XScreenSaverInfo)]
        event_base, error_base = ctypes.c_int(), ctypes.c_int()
        if not xss.XScreenSaverQueryExtension(display.ptr, ctypes.byref(event_base), ctypes.byref(error_base)):
            display.close()
            return None
        return cls(xss, display)

    def read(self) -> tuple[float, bool] | None:
        """(idle seconds, locked); X11 alone does not know about locking. None once the display is gone."""
        d = self._display
        if not d.ptr or d.dead or not self._xss.XScreenSaverQueryInfo(d.ptr, d.root, self._info):
            return None
        return self._info.contents.idle / 1000.0, False

    def close(self) -> None:
        if self._display.ptr and not self._display.dead:
            self._display.lib.XFree(self._info)
        self._display.close()
