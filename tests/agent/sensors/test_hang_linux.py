"""The Linux hang sensor on real processes held in D state (a vfork parent waiting for its child)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from agent.catalogue import App
from agent.sensors._helpers import procfs
from agent.sensors._helpers.hang_tracker import HangTracker, Stuck
from agent.sensors.hang_linux import HangLinuxConfig, HangLinuxSensor


@pytest.fixture(scope="module")
def hanger(test_program):
    return test_program("hanger")


@pytest.fixture
def sensor(make_ctx, hanger):
    app = App(name="Hanger", executables=[hanger.name], hang_threshold_s=1.0)
    return HangLinuxSensor(HangLinuxConfig(rescan_s=1), make_ctx(apps=[app]))


def _wait_for_state(pid: int, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while procfs.read_state(pid) != state:
        assert time.monotonic() < deadline, f"process {pid} never reached state {state}"
        time.sleep(0.02)


def _poll_while_alive(sensor, proc, interval=0.2, timeout=30.0):
    events = []
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        events += sensor.poll()
        time.sleep(interval)
    events += sensor.poll()
    return events


def test_read_state_of_running_and_gone_processes():
    assert procfs.read_state(os.getpid()) in ("R", "S")
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert procfs.read_state(proc.pid) is None


def test_a_process_stuck_beyond_its_threshold_is_one_hang_with_its_duration(sensor, hanger):
    proc = subprocess.Popen([str(hanger), "dstate", "3000"])
    _wait_for_state(proc.pid, "D")
    events = _poll_while_alive(sensor, proc)
    (hang,) = [e for e in events if e.details["pid"] == proc.pid]
    assert hang.type == "hang" and hang.app == "Hanger" and hang.details["exe"] == hanger.name
    assert "app_version" not in hang.details  # a program no package installed
    assert 1.5 <= hang.duration_s <= 3.5
    assert hang.details["ended"] in ("responding", "exited")


def test_a_short_blocking_wait_is_not_a_hang(sensor, hanger):
    proc = subprocess.Popen([str(hanger), "dstate", "400"])
    events = _poll_while_alive(sensor, proc)
    assert events == []


def test_uncatalogued_processes_are_not_watched(make_ctx, hanger):
    sensor = HangLinuxSensor(HangLinuxConfig(rescan_s=1), make_ctx(apps=[App(name="Other", executables=["other"])]))
    proc = subprocess.Popen([str(hanger), "dstate", "2500"])
    _wait_for_state(proc.pid, "D")
    assert _poll_while_alive(sensor, proc) == []


def test_apps_known_only_by_url_cause_no_process_scan(make_ctx):
    sensor = HangLinuxSensor(HangLinuxConfig(), make_ctx(apps=[App(name="CRM", urls=["https://crm.example.com/"])]))
    assert sensor.poll() == []
    assert sensor._next_scan == 0.0  # the /proc scan never ran


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="no dpkg database here")
def test_a_hang_of_a_packaged_program_carries_its_version():
    path = os.path.realpath(shutil.which("sleep"))
    expected = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "coreutils"], capture_output=True, text=True,
                              check=True).stdout
    tracker = HangTracker("d_state")
    stuck = {4242: Stuck("sleep", "sleep", 1.0, path)}
    assert tracker.observe(100.0, stuck, lambda pid: False) == []
    tracker.observe(102.0, stuck, lambda pid: False)
    (hang,) = tracker.observe(104.0, {}, lambda pid: True)
    assert hang.details["app_version"] == expected and hang.details["ended"] == "exited"
