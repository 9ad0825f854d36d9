"""A private Xvfb server for the X11 sensor tests, and the wait for a window manager on it."""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent.sensors._helpers.x11 import display_problem

needs_xvfb = pytest.mark.skipif(not shutil.which("Xvfb"), reason="needs Xvfb (Debian package xvfb)")


@contextlib.contextmanager
def running_xvfb(binary: str = "Xvfb"):
    """Start Xvfb (or a copy of it under another name) on a free display; yields (display name, e.g. ':57',
    process); stops it afterwards."""
    for _ in range(20):  # a display no server holds: neither its lock nor its socket is there
        n = random.randint(40, 400)
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            break
    # -noreset: the wait below connects and leaves; without it the server would reset as its last client left
    proc = subprocess.Popen([binary, f":{n}", "-screen", "0", "320x240x24", "-nolisten", "tcp", "-noreset"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        # ours once its lock names it (a socket alone may be another server's, started meanwhile), ready once a
        # client can connect (the socket may be there before: then a window manager started at once fails)
        while not (Path(f"/tmp/.X11-unix/X{n}").exists() and _lock_pid(n) == proc.pid
                   and display_problem(f":{n}") is None):
            assert proc.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.05)
        yield f":{n}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)


def _lock_pid(n: int) -> int | None:
    """The process id an X server wrote in display ``n``'s lock file, if it is there and readable."""
    try:
        return int(Path(f"/tmp/.X{n}-lock").read_text().strip())
    except (OSError, ValueError):
        return None


def wait_for_window_manager(display: str, wm: subprocess.Popen, log: Path, timeout_s: float = 30.0) -> None:
    """Until the window manager has announced itself on the root window (EWMH _NET_SUPPORTING_WM_CHECK)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if wm.poll() is not None:
            pytest.fail(f"openbox exited with status {wm.returncode}: {log.read_text()[-500:]}")
        check = subprocess.run(["xprop", "-display", display, "-root", "_NET_SUPPORTING_WM_CHECK"],
                               capture_output=True, text=True, timeout=10)
        if "window id" in check.stdout:
            return
        assert time.monotonic() < deadline, f"openbox did not announce itself within {timeout_s:.0f} s"
        time.sleep(0.1)
