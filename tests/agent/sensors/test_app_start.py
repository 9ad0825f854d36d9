"""Application start time: real child processes that work flat out for a known time, then idle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.catalogue import App
from agent.sensors.app_start import AppStartConfig, AppStartSensor

CHILD = Path(__file__).with_name("_slow_start.py")


def _spawn(name, busy_s, python=sys.executable):
    proc = subprocess.Popen([python, str(CHILD), name, str(busy_s)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the test child renames itself with prctl")
def test_slow_start_is_reported_fast_start_is_not(make_ctx):
    apps = [App(name="Slow ERP", executables=["h4slowerp"], start_threshold_s=1.0),
            App(name="Quick Mail", executables=["h4quickmail"], start_threshold_s=1.0)]
    sensor = AppStartSensor(AppStartConfig(interval_s=0.2), make_ctx(apps))
    sensor.start()
    t0 = time.time()
    slow, quick = _spawn("h4slowerp", 2.5), _spawn("h4quickmail", 0.0)
    events = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (events and not sensor._starts):
            events += sensor.poll()
            time.sleep(0.2)
    finally:
        for p in (slow, quick):
            p.kill()
            p.wait()
    assert [e.app for e in events] == ["Slow ERP"], events
    e = events[0]
    assert e.type == "slow_app" and e.details["kind"] == "start"
    assert e.start == pytest.approx(t0, abs=1.0)
    assert e.details["start_s"] == pytest.approx(2.5, abs=1.0)
    assert e.details["excess_s"] == pytest.approx(e.details["start_s"] - 1.0)
    assert e.duration_s == e.details["start_s"]


def test_uncatalogued_processes_are_ignored(make_ctx):
    sensor = AppStartSensor(AppStartConfig(interval_s=0.2), make_ctx([App(name="X", executables=["h4nothing"])]))
    sensor.start()
    child = _spawn("h4other", 0.0)
    try:
        sensor.poll()
        assert sensor._starts == {}
    finally:
        child.kill()
        child.wait()


def _debian_python() -> tuple[str, str] | None:
    """The Python interpreter dpkg installed here (/usr/bin/python3, resolved), and its package's version."""
    path = os.path.realpath("/usr/bin/python3")
    if not os.path.exists(path) or not shutil.which("dpkg-query"):
        return None
    owner = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    if owner.returncode != 0:
        return None
    package = owner.stdout.split(": ")[0].split(", ")[0]
    return path, subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                                check=True).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux") or _debian_python() is None,
                    reason="needs a Python installed by dpkg (the child renames itself with prctl)")
def test_a_slow_start_carries_the_version_of_the_package_that_installed_the_program(make_ctx):
    python, expected = _debian_python()
    sensor = AppStartSensor(AppStartConfig(interval_s=0.2),
                            make_ctx([App(name="Packaged", executables=["h4packaged"], start_threshold_s=0.5)]))
    sensor.start()
    child = _spawn("h4packaged", 1.2, python)
    events = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not events:
            events += sensor.poll()
            time.sleep(0.2)
    finally:
        child.kill()
        child.wait()
    (event,) = events
    assert event.app == "Packaged" and event.details["app_version"] == expected
