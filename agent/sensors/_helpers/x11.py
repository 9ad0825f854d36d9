"""A connection to an X11 display through ctypes on libX11, safe for an unattended agent.

Xlib's defaults are fatal for a long-running process: a protocol error (for
example BadWindow when a window disappears between two calls) prints and
exits, and so does a lost connection (the session ended, the server died).
Loading the library here installs an error handler that counts errors and
returns, an I/O error handler that returns, and, per display, an exit handler
(libX11 >= 1.7) that marks the display dead. Without XSetIOErrorExitHandler
no display is opened at all.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket

c_ulong, c_long, c_int, c_void_p = ctypes.c_ulong, ctypes.c_long, ctypes.c_int, ctypes.c_void_p

ANY_PROPERTY_TYPE = 0
SUBSTRUCTURE_NOTIFY_MASK = 1 << 19
SUBSTRUCTURE_REDIRECT_MASK = 1 << 20
CLIENT_MESSAGE = 33
IS_VIEWABLE = 2


class X11Unavailable(Exception):
    """The display cannot be used; the message says why."""


class XErrorEvent(ctypes.Structure):
    _fields_ = [("type", c_int), ("display", c_void_p), ("resourceid", c_ulong), ("serial", c_ulong),
                ("error_code", ctypes.c_ubyte), ("request_code", ctypes.c_ubyte), ("minor_code", ctypes.c_ubyte)]


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", c_int), ("serial", c_ulong), ("send_event", c_int), ("display", c_void_p),
                ("window", c_ulong), ("message_type", c_ulong), ("format", c_int), ("l", c_long * 5)]


class XEvent(ctypes.Union):
    _fields_ = [("type", c_int), ("xclient", XClientMessageEvent), ("pad", c_long * 24)]


class XWindowAttributes(ctypes.Structure):
    _fields_ = [("x", c_int), ("y", c_int), ("width", c_int), ("height", c_int), ("border_width", c_int),
                ("depth", c_int), ("visual", c_void_p), ("root", c_ulong), ("class_", c_int),
                ("bit_gravity", c_int), ("win_gravity", c_int), ("backing_store", c_int),
                ("backing_planes", c_ulong), ("backing_pixel", c_ulong), ("save_under", c_int),
                ("colormap", c_ulong), ("map_installed", c_int), ("map_state", c_int),
                ("all_event_masks", c_long), ("your_event_mask", c_long), ("do_not_propagate_mask", c_long),
                ("override_redirect", c_int), ("screen", c_void_p)]


_ErrorHandler = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(XErrorEvent))
_IOErrorHandler = ctypes.CFUNCTYPE(c_int, c_void_p)
_IOErrorExitHandler = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)

_errors: dict[int, int] = {}  # display address -> protocol errors ignored


def _count_error(display, event) -> int:
    _errors[display] = _errors.get(display, 0) + 1
    return 0


# Kept referenced for the life of the process: Xlib calls them from C.
_error_handler = _ErrorHandler(_count_error)
_io_error_handler = _IOErrorHandler(lambda display: 0)
_xlib: ctypes.CDLL | None = None

_SIGNATURES = {
    "XOpenDisplay": (c_void_p, [ctypes.c_char_p]),
    "XCloseDisplay": (c_int, [c_void_p]),
    "XDefaultRootWindow": (c_ulong, [c_void_p]),
    "XFree": (c_int, [c_void_p]),
    "XInternAtom": (c_ulong, [c_void_p, ctypes.c_char_p, c_int]),
    "XGetWindowProperty": (c_int, [c_void_p, c_ulong, c_ulong, c_long, c_long, c_int, c_ulong,
                                   ctypes.POINTER(c_ulong), ctypes.POINTER(c_int), ctypes.POINTER(c_ulong),
                                   ctypes.POINTER(c_ulong), ctypes.POINTER(c_void_p)]),
    "XQueryTree": (c_int, [c_void_p, c_ulong, ctypes.POINTER(c_ulong), ctypes.POINTER(c_ulong),
                           ctypes.POINTER(ctypes.POINTER(c_ulong)), ctypes.POINTER(ctypes.c_uint)]),
    "XGetWindowAttributes": (c_int, [c_void_p, c_ulong, ctypes.POINTER(XWindowAttributes)]),
    "XSelectInput": (c_int, [c_void_p, c_ulong, c_long]),
    "XSendEvent": (c_int, [c_void_p, c_ulong, c_int, c_long, ctypes.POINTER(XEvent)]),
    "XFlush": (c_int, [c_void_p]),
    "XPending": (c_int, [c_void_p]),
    "XNextEvent": (c_int, [c_void_p, ctypes.POINTER(XEvent)]),
    "XSetErrorHandler": (c_void_p, [_ErrorHandler]),
    "XSetIOErrorHandler": (c_void_p, [_IOErrorHandler]),
    "XSetIOErrorExitHandler": (None, [c_void_p, _IOErrorExitHandler, c_void_p]),
}


def _load() -> ctypes.CDLL:
    global _xlib
    if _xlib is None:
        path = ctypes.util.find_library("X11")
        if not path:
            raise X11Unavailable("libX11 is not installed")
        lib = ctypes.CDLL(path)
        if not hasattr(lib, "XSetIOErrorExitHandler"):
            raise X11Unavailable("libX11 older than 1.7 (it would exit the agent when the display goes away)")
        lib.XInitThreads()  # before any other call: sensors use their displays from different threads
        for name, (restype, argtypes) in _SIGNATURES.items():
            func = getattr(lib, name)
            func.restype, func.argtypes = restype, argtypes
        lib.XSetErrorHandler(_error_handler)
        lib.XSetIOErrorHandler(_io_error_handler)
        _xlib = lib
    return _xlib


class Display:
    """One open X display: ``lib`` (libX11), ``ptr`` (the Display*), ``root``; ``dead`` once the connection is lost."""

    def __init__(self, lib: ctypes.CDLL, ptr: int):
        self.lib, self.ptr = lib, ptr
        self.root = lib.XDefaultRootWindow(ptr)
        self.dead = False
        self._exit_handler = _IOErrorExitHandler(self._lost)
        lib.XSetIOErrorExitHandler(ptr, self._exit_handler, None)

    def _lost(self, display, data) -> None:
        self.dead = True

    @classmethod
    def open(cls, name: str) -> "Display":
        """Connect to display ``name`` (e.g. ':0'); raises X11Unavailable with the reason."""
        if not name:
            raise X11Unavailable("no X11 display (DISPLAY is not set)")
        lib = _load()
        ptr = lib.XOpenDisplay(name.encode())
        if not ptr:
            raise X11Unavailable(f"cannot open X11 display {name!r} (no server, or no access: XAUTHORITY)")
        return cls(lib, ptr)

    @property
    def errors(self) -> int:
        """X protocol errors on this display that were counted and ignored."""
        return _errors.get(self.ptr, 0)

    def atoms(self, names) -> dict[str, int]:
        """The atoms of ``names``, created if needed."""
        return {name: self.lib.XInternAtom(self.ptr, name.encode(), 0) for name in names}

    def watch_root_children(self) -> None:
        """Receive what is sent to the root window for its children (SubstructureNotify), e.g. ping answers."""
        self.lib.XSelectInput(self.ptr, self.root, SUBSTRUCTURE_NOTIFY_MASK)
        self.flush()

    def flush(self) -> None:
        self.lib.XFlush(self.ptr)

    def property(self, window: int, atom: int, text: bool = False):
        """A window property: a list of 32-bit values (or a string with ``text``), None if absent or gone."""
        kind, fmt, count, after, data = c_ulong(), c_int(), c_ulong(), c_ulong(), c_void_p()
        status = self.lib.XGetWindowProperty(self.ptr, window, atom, 0, 4096, 0, ANY_PROPERTY_TYPE,
                                             ctypes.byref(kind), ctypes.byref(fmt), ctypes.byref(count),
                                             ctypes.byref(after), ctypes.byref(data))
        if status != 0 or not data.value:
            return None  # BadWindow (counted by the error handler) or no such property
        try:
            if text:
                return ctypes.string_at(data.value, count.value).decode("latin-1") if fmt.value == 8 else None
            return list((c_ulong * count.value).from_address(data.value)) if fmt.value == 32 else None
        finally:
            self.lib.XFree(data)

    def local_pid(self, window: int, atoms: dict[str, int]) -> int | None:
        """The process behind a window (its _NET_WM_PID), None if unknown or on another host (WM_CLIENT_MACHINE).

        ``atoms`` holds those of ``_NET_WM_PID`` and ``WM_CLIENT_MACHINE``.
        """
        pid = self.property(window, atoms["_NET_WM_PID"])
        machine = self.property(window, atoms["WM_CLIENT_MACHINE"], text=True)
        if not pid or (machine and machine != socket.gethostname()):
            return None
        return pid[0] or None

    def viewable_top_levels(self) -> set[int]:
        """The root's mapped children that a window manager would manage (not override-redirect)."""
        root, parent, children, count = c_ulong(), c_ulong(), ctypes.POINTER(c_ulong)(), ctypes.c_uint()
        if not self.lib.XQueryTree(self.ptr, self.root, ctypes.byref(root), ctypes.byref(parent),
                                   ctypes.byref(children), ctypes.byref(count)):
            return set()
        windows = [children[i] for i in range(count.value)]
        if children:
            self.lib.XFree(children)
        found, attrs = set(), XWindowAttributes()
        for window in windows:
            if self.lib.XGetWindowAttributes(self.ptr, window, ctypes.byref(attrs)) \
                    and attrs.map_state == IS_VIEWABLE and not attrs.override_redirect:
                found.add(window)
        return found

    def send_client_message(self, window: int, message_type: int, values: tuple[int, ...]) -> None:
        """Send a 32-bit ClientMessage (up to five values) to ``window`` itself."""
        event = XEvent()
        msg = event.xclient
        msg.type, msg.window, msg.message_type, msg.format = CLIENT_MESSAGE, window, message_type, 32
        for i, value in enumerate(values):
            msg.l[i] = value
        self.lib.XSendEvent(self.ptr, window, 0, 0, ctypes.byref(event))

    def client_messages(self, message_type: int) -> list[tuple[int, ...]]:
        """Drain the event queue; the values of the ClientMessages of ``message_type`` in it."""
        event, found = XEvent(), []
        while not self.dead and (pending := self.lib.XPending(self.ptr)):
            for _ in range(pending):
                self.lib.XNextEvent(self.ptr, ctypes.byref(event))
                if event.type == CLIENT_MESSAGE and event.xclient.message_type == message_type:
                    found.append(tuple(event.xclient.l))
        return found

    def close(self) -> None:
        if self.ptr and not self.dead:
            self.lib.XCloseDisplay(self.ptr)
        _errors.pop(self.ptr, None)
        self.ptr = None


def display_problem(name: str) -> str | None:
    """Why X display ``name`` cannot be watched (not set, no server, no access, old libX11), or None if it can."""
    if not name:
        return "no X11 display (DISPLAY is not set; native Wayland windows cannot be watched)"
    try:
        Display.open(name).close()
    except X11Unavailable as exc:
        return str(exc)
    return None
