"""The X11 hang sensor against real X clients under Xvfb, frozen with SIGSTOP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.catalogue import App
from agent.sensors import SENSORS
from agent.sensors._helpers.appversion import version_of
from agent.sensors.hang_x11 import SOURCE, HangX11Config, HangX11Sensor
from tests.agent.sensors._xvfb import needs_xvfb, running_xvfb, wait_for_window_manager

ROOT = Path(__file__).resolve().parents[3]
PYTHON_EXE = os.path.basename(os.path.realpath(sys.executable))
THRESHOLD_S = 3.0
POLL_S = 0.25  # the precision of start and end is one poll interval


@pytest.fixture(scope="module")
def display():
    with running_xvfb() as (name, _):
        yield name


@pytest.fixture
def start_client(display):
    """Start _x11_client.py with ('ping' or 'noping'); returns the process once its window is mapped."""
    started = []

    def start(mode="ping"):
        proc = subprocess.Popen([sys.executable, "-m", "tests.agent.sensors._x11_client", display, mode], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout.readline().strip().isdigit(), "the X client did not map its window"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait(10)


@pytest.fixture
def sensor(display, make_ctx):
    ctx = make_ctx(apps=[App(name="Frozen", executables=[PYTHON_EXE], hang_threshold_s=1.0)])
    s = HangX11Sensor(HangX11Config(display=display, hang_threshold_s=THRESHOLD_S, interval_s=1), ctx)
    s.start()
    yield s
    s.close()


def _poll_for(sensor, seconds):
    """Poll like the agent does, for about ``seconds``; return the events."""
    events = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        events += sensor.poll()
        time.sleep(POLL_S)
    return events


def _poll_until(sensor, predicate, timeout=15.0):
    events = []
    deadline = time.monotonic() + timeout
    while not predicate(events) and time.monotonic() < deadline:
        events += sensor.poll()
        time.sleep(POLL_S)
    return events


def _watched_windows(sensor):
    sensor.poll()
    return sensor.ctx.heartbeat_details["hang_x11_windows"]


@needs_xvfb
def test_a_frozen_window_is_one_hang_with_its_duration_and_catalogued_name(sensor, start_client):
    frozen, brief, no_ping = start_client(), start_client(), start_client("noping")
    assert _watched_windows(sensor) == 2  # the window without _NET_WM_PING is not pinged
    assert _poll_for(sensor, 2.0) == []  # running clients answer

    for proc in (frozen, brief, no_ping):
        proc.send_signal(signal.SIGSTOP)
    stopped = time.time()
    events = _poll_for(sensor, 1.5)
    brief.send_signal(signal.SIGCONT)  # unresponsive for less than the threshold: not a hang
    events += _poll_for(sensor, 6.0 - (time.time() - stopped))
    frozen.send_signal(signal.SIGCONT)
    no_ping.send_signal(signal.SIGCONT)
    resumed = time.time()
    events += _poll_until(sensor, lambda evs: any(e.details["pid"] == frozen.pid for e in evs))
    events += _poll_for(sensor, 1.0)

    (hang,) = events
    assert hang.type == "hang" and hang.app == "Frozen" and hang.severity == "error"
    version = version_of(os.path.realpath(sys.executable))  # where this Python came from a package
    assert hang.details == {"source": SOURCE, "exe": PYTHON_EXE, "pid": frozen.pid, "threshold_s": THRESHOLD_S,
                            "ended": "responding", **({"app_version": version} if version else {})}
    # start: the first ping it did not answer, at most one poll after the freeze; end: the poll that read the answer
    assert stopped - 0.5 <= hang.start <= stopped + 1.0
    assert hang.duration_s == pytest.approx(resumed - stopped, abs=1.5)
    assert _watched_windows(sensor) == 2


@needs_xvfb
def test_a_client_killed_while_hung_ends_the_hang(sensor, start_client):
    proc = start_client()
    assert _watched_windows(sensor) == 1
    proc.send_signal(signal.SIGSTOP)
    stopped = time.time()
    assert _poll_for(sensor, THRESHOLD_S + 1.0) == []  # hung, but not over yet
    proc.kill()
    killed = time.time()
    events = _poll_until(sensor, lambda evs: evs)
    (hang,) = events
    assert hang.details["pid"] == proc.pid and hang.details["ended"] == "exited"
    assert hang.duration_s == pytest.approx(killed - stopped, abs=1.5)
    assert _watched_windows(sensor) == 0


@needs_xvfb
def test_a_hang_still_open_at_stop_is_sent_by_close(display, start_client, make_ctx):
    proc = start_client()
    sensor = HangX11Sensor(HangX11Config(display=display, hang_threshold_s=1.0), make_ctx())
    sensor.start()
    assert _watched_windows(sensor) == 1
    proc.send_signal(signal.SIGSTOP)
    stopped = time.time()
    assert _poll_for(sensor, 1.6) == []
    (hang,) = sensor.close()
    assert hang.details["pid"] == proc.pid and hang.details["open_at_stop"] is True
    assert hang.details["ended"] == "agent_stopped"
    assert hang.duration_s == pytest.approx(time.time() - stopped, abs=1.0)


@needs_xvfb
def test_a_vanished_window_is_a_counted_x_error_not_a_crash(sensor):
    before = sensor._display.errors
    assert sensor._property(0x3ffffff, "WM_PROTOCOLS") is None  # no such window: BadWindow
    assert sensor._display.errors == before + 1
    assert sensor.poll() == []


@needs_xvfb
def test_a_lost_display_ends_open_hangs_and_the_sensor_keeps_going(make_ctx):
    with running_xvfb() as (name, server):
        client = subprocess.Popen([sys.executable, "-m", "tests.agent.sensors._x11_client", name, "ping"], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        sensor = HangX11Sensor(HangX11Config(display=name, hang_threshold_s=1.0), make_ctx())
        try:
            assert client.stdout.readline().strip().isdigit()
            sensor.start()
            assert _watched_windows(sensor) == 1
            client.send_signal(signal.SIGSTOP)
            assert _poll_for(sensor, 1.6) == []
            server.terminate()
            server.wait(10)
            events = _poll_until(sensor, lambda evs: evs, timeout=10)
            (hang,) = events
            assert hang.app == PYTHON_EXE and hang.details["ended"] in ("closed", "exited")
            assert sensor.poll() == []  # no display: waits to reconnect
        finally:
            client.send_signal(signal.SIGCONT)
            client.kill()
            client.wait(10)
            sensor.close()


@needs_xvfb
@pytest.mark.skipif(not shutil.which("openbox"), reason="needs a window manager (Debian package openbox)")
def test_under_a_reparenting_window_manager_the_client_windows_are_pinged(make_ctx, tmp_path):
    """Openbox lists the clients in _NET_CLIENT_LIST and puts them in frames that take no pings."""
    log = tmp_path / "openbox.log"
    with running_xvfb() as (name, _), open(log, "w") as log_file:
        wm = subprocess.Popen(["openbox", "--sm-disable"], env={**os.environ, "DISPLAY": name},
                              stdout=log_file, stderr=log_file)
        wait_for_window_manager(name, wm, log)  # a client mapped before openbox is ready may be left unmanaged
        client = subprocess.Popen([sys.executable, "-m", "tests.agent.sensors._x11_client", name, "ping"], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        sensor = HangX11Sensor(HangX11Config(display=name, hang_threshold_s=2.0), make_ctx())
        try:
            window = int(client.stdout.readline())
            sensor.start()
            deadline = time.monotonic() + 30
            while window not in (sensor._property(sensor._display.root, "_NET_CLIENT_LIST") or ()):
                assert time.monotonic() < deadline, "openbox never managed the window"
                time.sleep(0.1)
            assert _watched_windows(sensor) == 1
            assert set(sensor._window_pid) == {window}  # from the window manager's list, not the frames
            assert _poll_for(sensor, 1.0) == []
            client.send_signal(signal.SIGSTOP)
            stopped = time.time()
            events = _poll_for(sensor, 4.0)
            client.send_signal(signal.SIGCONT)
            resumed = time.time()
            events += _poll_until(sensor, lambda evs: evs)
            (hang,) = events
            assert hang.details["pid"] == client.pid and hang.details["ended"] == "responding"
            assert hang.duration_s == pytest.approx(resumed - stopped, abs=1.5)
        finally:
            sensor.close()
            for proc in (client, wm):
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(10)


def test_unavailable_without_a_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    assert "DISPLAY is not set" in HangX11Sensor.unavailable(HangX11Config())
    assert "cannot open X11 display ':4242'" in HangX11Sensor.unavailable(HangX11Config(display=":4242"))
    assert SENSORS["hang_x11"] is HangX11Sensor


@pytest.mark.parametrize("text, key", [
    ("[sensors.hang_x11]\nhang_threshold_s = 0.5\n", "sensors.hang_x11.hang_threshold_s"),
    ("[sensors.hang_x11]\ninterval_s = 0.5\n", "sensors.hang_x11.interval_s"),
])
def test_config_errors_name_the_key(config_error, text, key):
    assert key in config_error(text)
