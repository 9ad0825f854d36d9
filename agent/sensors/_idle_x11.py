"""X11 idle time: XScreenSaverQueryInfo from libXss, through ctypes.

The X server counts milliseconds since the last keyboard or pointer event on
the display; we read that number and nothing else (no window, no key).

Xlib's default reaction to a lost display (the session ended, the server
died) is to exit the whole process. We install an I/O error handler that
returns and a per-display exit handler (libX11 >= 1.7) that marks the reader
dead instead; without XSetIOErrorExitHandler the X11 source is not used.
"""

from __future__ import annotations

import ctypes
import ctypes.util


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [("window", ctypes.c_ulong), ("state", ctypes.c_int), ("kind", ctypes.c_int),
                ("til_or_since", ctypes.c_ulong), ("idle", ctypes.c_ulong), ("event_mask", ctypes.c_ulong)]


_IOErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_IOErrorExitHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
# Kept referenced for the life of the process: Xlib calls it from C.
_io_error_handler = _IOErrorHandler(lambda display: 0)


class X11Idle:
    """Idle seconds of one X display; ``open`` returns None when it cannot be read."""

    name = "x11"

    def __init__(self, xlib, xss, display):
        self._xlib, self._xss, self._display = xlib, xss, display
        self._info = xss.XScreenSaverAllocInfo()
        self._root = xlib.XDefaultRootWindow(display)
        self.dead = False
        self._exit_handler = _IOErrorExitHandler(self._lost)
        xlib.XSetIOErrorExitHandler(display, self._exit_handler, None)

    def _lost(self, display, data) -> None:
        self.dead = True

    @classmethod
    def open(cls, display_name: str | None) -> "X11Idle | None":
        if not display_name:
            return None
        paths = [ctypes.util.find_library("X11"), ctypes.util.find_library("Xss")]
        if not all(paths):
            return None
        xlib, xss = ctypes.CDLL(paths[0]), ctypes.CDLL(paths[1])
        if not hasattr(xlib, "XSetIOErrorExitHandler"):
            return None  # libX11 < 1.7 would exit the agent when the display goes away
        xlib.XSetIOErrorHandler.argtypes = [_IOErrorHandler]
        xlib.XSetIOErrorHandler(_io_error_handler)
        xlib.XSetIOErrorExitHandler.argtypes = [ctypes.c_void_p, _IOErrorExitHandler, ctypes.c_void_p]
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XDefaultRootWindow.restype = ctypes.c_ulong
        xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        xlib.XFree.argtypes = [ctypes.c_void_p]
        xss.XScreenSaverQueryExtension.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                                   ctypes.POINTER(ctypes.c_int)]
        xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
        xss.XScreenSaverQueryInfo.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_XScreenSaverInfo)]
        display = xlib.XOpenDisplay(display_name.encode())
        if not display:
            return None
        event_base, error_base = ctypes.c_int(), ctypes.c_int()
        if not xss.XScreenSaverQueryExtension(display, ctypes.byref(event_base), ctypes.byref(error_base)):
            xlib.XCloseDisplay(display)
            return None
        return cls(xlib, xss, display)

    def read(self) -> tuple[float, bool] | None:
        """(idle seconds, locked); X11 alone does not know about locking. None once the display is gone."""
        if self.dead or not self._xss.XScreenSaverQueryInfo(self._display, self._root, self._info):
            return None
        return self._info.contents.idle / 1000.0, False

    def close(self) -> None:
        if self._display and not self.dead:
            self._xlib.XFree(self._info)
            self._xlib.XCloseDisplay(self._display)
        self._display = None
