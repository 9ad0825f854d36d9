"""The foreground application on Windows: GetForegroundWindow, then GetWindowThreadProcessId (user32).

Only a process in the employee's interactive session sees its foreground
window: in session 0, where services run, GetForegroundWindow returns no
window. Universal (UWP) apps' windows belong to ApplicationFrameHost.exe,
which is what is then named.
"""

from __future__ import annotations

SESSION_0 = ("the agent runs as a service in session 0, where no window has the focus (run it in the employee's "
             "session, e.g. as a scheduled task at logon, to measure time in applications)")


def session_problem(session_id: int) -> str | None:
    """Why the foreground window cannot be read from a process in this Windows session, or None."""
    return SESSION_0 if session_id == 0 else None


def current_session() -> int:
    """The Windows session id of this process (Windows only)."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    session = wintypes.DWORD(0)
    kernel32.ProcessIdToSessionId(kernel32.GetCurrentProcessId(), ctypes.byref(session))
    return session.value


class WindowsForeground:
    """Reads the foreground window's process id through user32 (Windows only)."""

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ctypes, self._dword = ctypes, wintypes.DWORD
        user32 = ctypes.WinDLL("user32", use_last_error=True)
        user32.GetForegroundWindow.restype = wintypes.HWND
        user32.GetForegroundWindow.argtypes = []
        user32.GetWindowThreadProcessId.restype = wintypes.DWORD
        user32.GetWindowThreadProcessId.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.DWORD)]
        self._user32 = user32

    def pid(self, now: float) -> int | None:
        """The process id owning the foreground window, None when no window has the focus (locked, switching)."""
        hwnd = self._user32.GetForegroundWindow()
        if not hwnd:
            return None
        pid = self._dword(0)
        if not self._user32.GetWindowThreadProcessId(hwnd, self._ctypes.byref(pid)):
            return None  # the window went away in between
        return pid.value or None

    def close(self) -> None:
        pass
