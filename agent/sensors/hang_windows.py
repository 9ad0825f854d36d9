"""Hangs on Windows: visible top-level windows that stopped pumping messages.

Windows calls a window hung (IsHungAppWindow) when its thread has not
retrieved a message for 5 seconds; that is the moment it shows "(Not
Responding)". Every poll enumerates the visible top-level windows; a process
with a hung window is stuck. The hang ends when its windows respond again or
the process is gone, and is sent then with its duration (counted from 5 s
before it was first seen hung). Window titles are never read.
"""

from __future__ import annotations

import ntpath
import time
from dataclasses import dataclass

from agent.sensors._helpers.hang_tracker import HangTracker, Stuck
from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

SOURCE = "is_hung_app_window"
HUNG_AFTER_S = 5.0  # IsHungAppWindow's own definition


@dataclass
class HangWindowsConfig(SensorConfig):
    interval_s: float = setting(2.0, min=1, max=60, doc="how often the windows are checked")
    min_hang_s: float = setting(0.0, min=0, max=3600,
                                doc="shortest hang reported for uncatalogued apps (catalogued apps use hang_threshold_s)")


def hung_window_processes() -> dict[int, str]:
    """pid -> executable path of processes owning a visible, hung top-level window (Windows only)."""
    import ctypes
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    user32.IsHungAppWindow.argtypes = [wintypes.HWND]
    user32.IsWindowVisible.argtypes = [wintypes.HWND]
    user32.GetWindowThreadProcessId.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.DWORD)]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    kernel32.QueryFullProcessImageNameW.argtypes = [wintypes.HANDLE, wintypes.DWORD, wintypes.LPWSTR,
                                                    ctypes.POINTER(wintypes.DWORD)]
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    found: dict[int, str] = {}

    @ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)
    def visit(hwnd, _lparam):
        if user32.IsWindowVisible(hwnd) and user32.IsHungAppWindow(hwnd):
            pid = wintypes.DWORD()
            user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
            if pid.value and pid.value not in found:
                found[pid.value] = _process_image(kernel32, pid.value)
        return True

    user32.EnumWindows(visit, 0)
    return found


def _process_image(kernel32, pid: int) -> str:
    import ctypes
    from ctypes import wintypes

    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ""
    try:
        size = wintypes.DWORD(1024)
        buf = ctypes.create_unicode_buffer(size.value)
        ok = kernel32.QueryFullProcessImageNameW(handle, 0, buf, ctypes.byref(size))
        return buf.value if ok else ""
    finally:
        kernel32.CloseHandle(handle)


def _process_gone(pid: int) -> bool:
    import psutil

    return not psutil.pid_exists(pid)


class HangWindowsSensor(Sensor):
    """Applications whose windows show "(Not Responding)"."""

    name = "hang_windows"
    Config = HangWindowsConfig
    platforms = ("win32",)
    explain = (
        "Every few seconds asks Windows which visible windows are not responding (IsHungAppWindow). Sends a 'hang' "
        "when one recovers or is closed: program name and its file version, process id, how long. Never window "
        "titles or contents."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._tracker = HangTracker(SOURCE, lead_s=HUNG_AFTER_S)

    # thin OS calls, replaced in tests
    def _hung(self) -> dict[int, str]:
        return hung_window_processes()

    def _gone(self, pid: int) -> bool:
        return _process_gone(pid)

    def poll(self):
        stuck = {}
        for pid, path in self._hung().items():
            exe = ntpath.basename(path) or f"pid-{pid}"
            app = self.ctx.catalogue.lookup(exe)
            threshold = app.hang_threshold_s if app else self.config.min_hang_s
            stuck[pid] = Stuck(app.name if app else exe, exe, threshold, path)
        return self._tracker.observe(time.time(), stuck, self._gone)

    @classmethod
    def examples(cls):
        return [Event(type="hang", app="Outlook", start=time.time() - 30, duration_s=23.0, details={
            "source": SOURCE, "exe": "OUTLOOK.EXE", "pid": 15176, "threshold_s": 10.0, "ended": "responding",
            "app_version": "16.0.17928.20156"})]
