"""A private Xvfb server for the X11 sensor tests."""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

needs_xvfb = pytest.mark.skipif(not shutil.which("Xvfb"), reason="needs Xvfb (Debian package xvfb)")


@contextlib.contextmanager
def running_xvfb():
    """Start Xvfb on a free display; yields (display name, e.g. ':57', process); stops it afterwards."""
    for _ in range(20):
        n = random.randint(40, 400)
        if not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "320x240x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.05)
        yield f":{n}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)
