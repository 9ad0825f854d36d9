"""A minimal real X11 application for the hang tests: one mapped window that answers _NET_WM_PING.

Usage: python _x11_client.py DISPLAY [ping|noping]
Creates a top-level window with WM_PROTOCOLS (WM_DELETE_WINDOW, plus
_NET_WM_PING unless 'noping') and _NET_WM_PID, maps it, prints the window id
and then answers every ping in its event loop, as toolkits do: the same event
sent back to the root window. SIGSTOP freezes it like a busy event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from agent.sensors._helpers.x11 import CLIENT_MESSAGE, SUBSTRUCTURE_NOTIFY_MASK, SUBSTRUCTURE_REDIRECT_MASK, XEvent

c_ulong, c_void_p = ctypes.c_ulong, ctypes.c_void_p
XA_CARDINAL, PROP_MODE_REPLACE = 6, 0


def main() -> None:
    display_name, mode = sys.argv[1], sys.argv[2]
    x = ctypes.CDLL(ctypes.util.find_library("X11"))
    x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = c_void_p, [ctypes.c_char_p]
    x.XDefaultRootWindow.restype, x.XDefaultRootWindow.argtypes = c_ulong, [c_void_p]
    x.XCreateSimpleWindow.restype = c_ulong
    x.XCreateSimpleWindow.argtypes = [c_void_p, c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                      ctypes.c_uint, c_ulong, c_ulong]
    x.XInternAtom.restype, x.XInternAtom.argtypes = c_ulong, [c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSetWMProtocols.argtypes = [c_void_p, c_ulong, ctypes.POINTER(c_ulong), ctypes.c_int]
    x.XChangeProperty.argtypes = [c_void_p, c_ulong, c_ulong, c_ulong, ctypes.c_int, ctypes.c_int, c_void_p,
                                  ctypes.c_int]
    x.XMapWindow.argtypes = [c_void_p, c_ulong]
    x.XSync.argtypes = [c_void_p, ctypes.c_int]
    x.XNextEvent.argtypes = [c_void_p, ctypes.POINTER(XEvent)]
    x.XSendEvent.argtypes = [c_void_p, c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
    x.XFlush.argtypes = [c_void_p]

    d = x.XOpenDisplay(display_name.encode())
    root = x.XDefaultRootWindow(d)
    win = x.XCreateSimpleWindow(d, root, 0, 0, 60, 40, 0, 0, 0)
    ping = x.XInternAtom(d, b"_NET_WM_PING", 0)
    protocols = [x.XInternAtom(d, b"WM_DELETE_WINDOW", 0)] + ([ping] if mode == "ping" else [])
    x.XSetWMProtocols(d, win, (c_ulong * len(protocols))(*protocols), len(protocols))
    pid = ctypes.c_long(os.getpid())  # format 32 properties are passed as C longs
    x.XChangeProperty(d, win, x.XInternAtom(d, b"_NET_WM_PID", 0), XA_CARDINAL, 32, PROP_MODE_REPLACE,
                      ctypes.byref(pid), 1)
    x.XMapWindow(d, win)
    x.XSync(d, 0)
    print(win, flush=True)
    event = XEvent()
    while True:
        x.XNextEvent(d, ctypes.byref(event))
        if event.type == CLIENT_MESSAGE and event.xclient.l[0] == ping:
            event.xclient.window = root
            x.XSendEvent(d, root, 0, SUBSTRUCTURE_NOTIFY_MASK | SUBSTRUCTURE_REDIRECT_MASK, ctypes.byref(event))
            x.XFlush(d)


if __name__ == "__main__":
    main()
