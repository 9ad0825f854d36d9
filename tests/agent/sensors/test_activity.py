"""Activity sensor: real X11 idle time under Xvfb with xdotool input, parsers of the other OSes, working hours."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.sensors._helpers.idle_logind import idle_from_props, parse_show_session
from agent.sensors._helpers.idle_macos import parse_ioreg
from agent.sensors._helpers.idle_windows import parse_idle_field, parse_query_user
from agent.sensors._helpers.idle_x11 import X11Idle
from agent.sensors.activity import ActivityConfig, ActivitySensor
from tests.agent.sensors._xvfb import running_xvfb

needs_xvfb = pytest.mark.skipif(not shutil.which("Xvfb") or not shutil.which("xdotool"),
                                reason="needs Xvfb and xdotool (Debian packages xvfb, xdotool)")


@pytest.fixture
def xvfb(xvfb_proc):
    """A private Xvfb display; yields its name, e.g. ':57'."""
    return xvfb_proc[0]


@pytest.fixture
def xvfb_proc():
    """A private Xvfb server; yields (display name, process)."""
    with running_xvfb() as server:
        yield server


def _move(display, x, y):
    subprocess.run(["xdotool", "mousemove", str(x), str(y)], env={**os.environ, "DISPLAY": display},
                   check=True, timeout=10)


def _wait_idle(reader, at_least, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        idle, _ = reader.read()
        if idle >= at_least:
            return idle
        time.sleep(0.05)
    raise AssertionError(f"idle time never reached {at_least} s")


@needs_xvfb
def test_x11_idle_drops_when_the_mouse_moves(xvfb):
    reader = X11Idle.open(xvfb)
    assert reader is not None, "XScreenSaver extension not readable"
    try:
        _wait_idle(reader, 1.0)
        _move(xvfb, 10, 20)
        idle, locked = reader.read()
        assert idle < 0.5 and locked is False
    finally:
        reader.close()


@needs_xvfb
def test_sensor_marks_active_only_while_input_is_recent(xvfb, make_ctx):
    ctx = make_ctx()
    sensor = ActivitySensor(ActivityConfig(display=xvfb, idle_threshold_s=1.0, interval_s=0.2), ctx)
    sensor.start()
    try:
        assert ctx.heartbeat_details["activity_source"] == "x11"
        _move(xvfb, 5, 5)
        t0 = time.time()
        sensor.poll()  # input just now: active since start
        _wait_idle(sensor._reader, 2.5)
        t1 = time.time()
        sensor.poll()  # idle for 2.5 s: only the first second after the input was active
        _move(xvfb, 50, 60)
        time.sleep(0.5)
        t2 = time.time()
        sensor.poll()
    finally:
        sensor.close()
    assert ctx.activity.active_seconds(t0 + 1.3, t1) == pytest.approx(0, abs=0.05)
    assert ctx.activity.active_seconds(t0, t0 + 1.0) == pytest.approx(1.0, abs=0.2)
    assert ctx.activity.active_seconds(t1, t2) == pytest.approx(t2 - t1, abs=0.05)


@needs_xvfb
def test_losing_the_display_does_not_kill_the_agent(xvfb_proc):
    """Xlib exits the process on a lost display by default; our reader must survive and report None."""
    display, server = xvfb_proc
    code = (
        "import sys\nfrom agent.sensors._helpers.idle_x11 import X11Idle\n"
        f"r = X11Idle.open({display!r})\nprint(r.read() is not None, flush=True)\nsys.stdin.readline()\n"
        "print(r.read(), r.read(), r.dead, flush=True)\nr.close()\nprint('alive', flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[3],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout.readline().strip() == "True"
    server.terminate()
    server.wait(10)
    out, _ = child.communicate("go\n", timeout=30)
    assert out.split("\n")[:2] == ["None None True", "alive"] and child.returncode == 0


def test_unreadable_display_falls_back_to_working_hours(make_ctx):
    ctx = make_ctx()
    always = ActivityConfig(display=":4242", source="x11", working_hours="00:00-24:00", working_days=list(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")))
    sensor = ActivitySensor(always, ctx)
    sensor.start()
    t0 = time.time()
    time.sleep(0.2)
    sensor.poll()
    sensor.close()
    assert ctx.heartbeat_details["activity_source"] == "working_hours"
    assert ctx.activity.active_seconds(t0, time.time()) > 0.15


def test_working_hours():
    cfg = ActivityConfig(working_hours="08:30-17:00", working_days=["mon", "tue"])
    monday_9 = time.mktime((2026, 11, 23, 9, 0, 0, 0, 0, -1))  # 23 Nov 2026 is a Monday
    assert cfg.in_working_hours(monday_9)
    assert not cfg.in_working_hours(monday_9 - 45 * 60)  # 08:15
    assert not cfg.in_working_hours(monday_9 + 8 * 3600)  # 17:00 is the end
    assert not cfg.in_working_hours(monday_9 + 2 * 86400)  # Wednesday


def test_macos_ioreg(fixtures_dir):
    assert parse_ioreg((fixtures_dir / "macos" / "ioreg_IOHIDSystem.txt").read_text()) == 4.5
    assert parse_ioreg("no HID here") is None


def test_windows_query_user(fixtures_dir):
    win = fixtures_dir / "windows"
    assert parse_query_user((win / "query_user_active.txt").read_text()) == 0.0
    assert parse_query_user((win / "query_user_mixed.txt").read_text()) == 65 * 60  # the disconnected one is ignored
    assert [parse_idle_field(v) for v in ("none", ".", "5", "1:05", "2+03:04", "?")] == \
        [0.0, 0.0, 300.0, 3900.0, (2 * 24 * 60 + 3 * 60 + 4) * 60.0, None]
    assert parse_query_user("No User exists for *\r\n") is None


def test_logind_hints(fixtures_dir):
    linux = fixtures_dir / "linux"
    idle = parse_show_session((linux / "loginctl_show_session_idle.txt").read_text())
    assert idle_from_props(idle, 1763900000 + 42.0) == (42.0, False)
    locked = parse_show_session((linux / "loginctl_show_session_locked.txt").read_text())
    assert idle_from_props(locked, 1763900000) == (0.0, True)


def test_locked_session_is_not_active(make_ctx):
    class Locked:
        name = "test-locked"

        def read(self):
            return 0.0, True

        def close(self):
            pass

    ctx = make_ctx()
    sensor = ActivitySensor(ActivityConfig(source="working_hours"), ctx)
    sensor.start()
    sensor._reader = Locked()
    t0 = time.time()
    time.sleep(0.1)
    sensor.poll()
    assert ctx.activity.active_seconds(t0 - 1, time.time()) == 0


@pytest.mark.parametrize("text, key", [
    ("[sensors.activity]\nworking_hours = '18:00-08:00'\n", "sensors.activity: working_hours"),
    ("[sensors.activity]\nworking_days = ['monday']\n", "working_days[0]"),
    ("[sensors.activity]\nsource = 'wayland'\n", "sensors.activity.source"),
    ("[sensors.activity]\nidle_threshold_s = 0\n", "sensors.activity.idle_threshold_s"),
])
def test_config_errors_name_the_key(config_error, text, key):
    assert key in config_error(text)
