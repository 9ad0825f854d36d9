"""The Windows hang sensor's mapping from hung windows to hangs (the ctypes window walk needs Windows)."""

from __future__ import annotations

import sys
import time

import pytest

from agent.catalogue import App
from agent.sensors.hang_windows import HangWindowsConfig, HangWindowsSensor


@pytest.fixture
def sensor(make_ctx):
    ctx = make_ctx(apps=[App(name="Outlook", executables=["OUTLOOK.EXE"], hang_threshold_s=8.0)])
    s = HangWindowsSensor(HangWindowsConfig(), ctx)
    s.hung_now: dict[int, str] = {}
    s._hung = lambda: s.hung_now
    s._gone = lambda pid: False
    return s


def test_hung_windows_become_hangs_named_from_the_catalogue(sensor):
    sensor.hung_now = {100: r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE", 200: r"C:\Tools\notepad.exe"}
    assert sensor.poll() == []
    time.sleep(0.05)
    sensor.hung_now = {}
    events = {e.app: e for e in sensor.poll()}
    # both were unresponsive for at least the 5 s Windows waits before calling a window hung
    assert events["notepad.exe"].duration_s >= 5.0 and events["notepad.exe"].details["exe"] == "notepad.exe"
    assert "Outlook" not in events  # 5 s is below Outlook's 8 s threshold
    assert all("\\" not in str(v) for e in events.values() for v in e.details.values())


def test_the_window_walk_is_windows_only():
    reason = HangWindowsSensor.unavailable(HangWindowsConfig())
    assert (reason is None) == (sys.platform == "win32")
