"""The boot sensor: the boot read from this machine's real /proc, sign-ins in logind's and utmp's real formats
measured against a real X server and window manager, systemd's and Windows' records from fixtures."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import time

import pytest

from agent.sensors import SENSORS
from agent.sensors._helpers import procfs
from agent.sensors._helpers.boot_linux import LinuxReader, kernel_start, parse_session, parse_utmp, systemd_phases
from agent.sensors._helpers.boot_macos import MacReader
from agent.sensors._helpers import boot_windows
from agent.sensors._helpers.boot_windows import WindowsReader, measurements
from agent.sensors._helpers.parse_windows_events import _parse_system_time, parse_events
from agent.sensors.boot import STATE_FILE, BootConfig, BootSensor
from contract.check import validate_batch
from contract.records import make_batch
from tests.agent.sensors._xvfb import needs_xvfb, running_xvfb, wait_for_window_manager

needs_openbox = pytest.mark.skipif(not shutil.which("openbox"), reason="needs openbox (Debian package openbox)")
needs_utmpdump = pytest.mark.skipif(not shutil.which("utmpdump"), reason="needs utmpdump (Debian package util-linux)")


def _read(name, fixtures_dir):
    return (fixtures_dir / name).read_text(encoding="utf-8")


# --- systemd's timestamps (systemctl show), as systemd-analyze reads them


def test_systemd_phases_are_those_systemd_analyze_prints(fixtures_dir):
    before_kernel, ready, phases = systemd_phases(_read("linux/systemctl_show_manager.txt", fixtures_dir),
                                                  _read("linux/systemctl_show_ready_units.txt", fixtures_dir))
    assert before_kernel == pytest.approx(17.770382)  # firmware and loader run before the kernel's monotonic zero
    assert ready == pytest.approx(14.281551)  # the display manager (gdm.service) was up, not the later finish
    assert phases == {"firmware_s": 10.231, "loader_s": 7.539, "kernel_s": 5.423, "userspace_s": 8.859}
    restarted = "Id=gdm.service\nActiveEnterTimestampMonotonic=3600000000\n"  # the display manager restarted later
    assert systemd_phases(_read("linux/systemctl_show_manager.txt", fixtures_dir), restarted)[1] == 18.590863


def test_systemd_initrd_phase_and_a_boot_not_up_yet(fixtures_dir):
    manager = _read("linux/systemctl_show_manager_initrd.txt", fixtures_dir)
    _, ready, phases = systemd_phases(manager, _read("linux/systemctl_show_ready_units.txt", fixtures_dir))
    assert phases == {"kernel_s": 0.773, "initrd_s": 1.716, "userspace_s": 11.793}
    assert systemd_phases(manager, _read("linux/systemctl_show_ready_units_starting.txt", fixtures_dir)) is None
    assert systemd_phases("", "") is None


# --- sign-in records: logind's session files and utmp


def test_logind_session_files_graphical_user_sessions_only(fixtures_dir, tmp_path):
    props = parse_session(_read("linux/logind_session_2", fixtures_dir))
    assert (props["CLASS"], props["TYPE"], props["UID"], props["REALTIME"]) == ("user", "wayland", "1000",
                                                                                "1796370101250311")
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for name in ("logind_session_2", "logind_session_c1"):
        shutil.copy(fixtures_dir / "linux" / name, sessions / name.removeprefix("logind_session_"))
    (sessions / "2.ref").write_text("")  # the session's FIFO lives beside it
    (sessions / "broken").write_bytes(b"\xff\xfeUID=x\nREALTIME=soon\n")
    reader = LinuxReader([], ["no-such-desktop"], 900, 900, sessions_dir=str(sessions))
    _, logons = reader.read("boot", set())
    assert [(lg.key, lg.start, lg.ready, lg.source) for lg in logons] == [
        ("logind:2:1796370101250311", 1796370101.250311, None, "logind")]  # the greeter (class greeter) is not one


def _utmp_file(path, records):
    """A real utmp file, written by util-linux's utmpdump from its text form: (type, pid, line, user, host, time)."""
    text = "".join(f"[{t}] [{pid:05d}] [{line[-4:]:<4}] [{user:<8}] [{line:<12}] [{host:<20}] [0.0.0.0        ] "
                   f"[{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(when))},{int(when % 1 * 1e6):06d}+00:00]\n"
                   for t, pid, line, user, host, when in records)
    with open(path, "wb") as out:
        subprocess.run(["utmpdump", "-r"], input=text.encode(), stdout=out, check=True, timeout=10)


@needs_utmpdump
def test_utmp_user_processes_only(tmp_path):
    path = tmp_path / "utmp"
    _utmp_file(path, [(2, 0, "~", "reboot", "6.1.0-13-amd64", 1796283049.12), (7, 1234, "tty2", "alice", ":0",
                      1796283140.25), (8, 999, "pts/0", "", "", 1796283300.0)])
    assert path.stat().st_size == 3 * 384
    assert parse_utmp(path.read_bytes()) == [{"pid": 1234, "line": "tty2", "user": "alice", "start": 1796283140.25}]
    assert parse_utmp(b"\x07" * 100) == []  # shorter than one record


# --- the real thing: this machine's /proc, a display server and a desktop started after a sign-in


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    """An X server (the sign-in screen), then a sign-in moment, then a window manager (the desktop), each a
    real process under a name no other test uses; yields their names, processes and the sign-in time."""
    tmp = tmp_path_factory.mktemp("boot")
    tag = str(os.getpid() % 100000)
    server, wm_name = f"hbX{tag}", f"hbwm{tag}"
    shutil.copy(shutil.which("Xvfb"), tmp / server)
    shutil.copy(shutil.which("openbox"), tmp / wm_name)
    with running_xvfb(str(tmp / server)) as (display, xproc), open(tmp / "wm.log", "w") as log:
        time.sleep(0.2)
        signed_in = time.time()
        time.sleep(0.3)
        wm = subprocess.Popen([str(tmp / wm_name), "--sm-disable"], env={**os.environ, "DISPLAY": display},
                              stdout=log, stderr=log)
        try:
            wait_for_window_manager(display, wm, tmp / "wm.log")
            yield {"server": server, "wm": wm_name, "xproc": xproc, "wmproc": wm, "signed_in": signed_in}
        finally:
            wm.terminate()
            wm.wait(10)


def _session_dir(tmp_path, start: float):
    """A logind session directory holding one graphical session of this user, created at ``start``."""
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / "7").write_text("# This is private data. Do not parse.\n"
                                f"UID={os.getuid()}\nUSER=tester\nACTIVE=1\nIS_DISPLAY=1\nSTATE=active\nREMOTE=0\n"
                                "TYPE=x11\nORIGINAL_TYPE=x11\nCLASS=user\nSCOPE=session-7.scope\nSEAT=seat0\n"
                                f"SERVICE=lightdm\nLEADER={os.getpid()}\nREALTIME={int(start * 1e6)}\n")
    return str(sessions)


def _sensor(make_ctx, reader, state_dir=None, clock=None, **settings):
    """The sensor reading with ``reader``; its clock at ``clock`` (Unix seconds) when given."""
    sensor = BootSensor(BootConfig(**settings), make_ctx(state_dir=state_dir))
    sensor._reader = reader
    if clock is not None:
        sensor.clock = lambda: clock
    sensor.start()
    return sensor


@needs_xvfb
@needs_openbox
def test_boot_and_sign_in_from_this_machines_proc(desktop, make_ctx, tmp_path):
    settings = {"display_processes": [desktop["server"]], "desktop_processes": [desktop["wm"]]}
    uptime_s = time.time() - kernel_start()
    reader = LinuxReader(settings["display_processes"], settings["desktop_processes"], max_boot_s=uptime_s + 60,
                         max_logon_s=900, sessions_dir=_session_dir(tmp_path, desktop["signed_in"]))
    sensor = _sensor(make_ctx, reader, **settings)
    started = time.perf_counter()
    boot, logon = sensor.poll()
    elapsed = time.perf_counter() - started
    server_up, desktop_up = procfs.start_time(desktop["xproc"].pid), procfs.start_time(desktop["wmproc"].pid)
    with open("/proc/stat") as fh:
        btime = int(next(line for line in fh if line.startswith("btime")).split()[1])

    assert (boot.type, boot.app, boot.details["source"]) == ("boot", "system", "proc")
    assert boot.start == pytest.approx(btime, abs=1.0)  # the kernel's start, as /proc/stat keeps it (whole seconds)
    assert boot.start + boot.duration_s == pytest.approx(server_up, abs=0.05)  # the sign-in screen's start
    assert boot.details["attended"] and boot.active_s == boot.duration_s  # someone signed in after it
    assert boot.details["kernel_s"] == pytest.approx(procfs.start_time(1) - boot.start, abs=0.05)
    assert boot.details["excess_s"] == pytest.approx(boot.duration_s - 60, abs=0.002) and boot.severity == "warning"

    assert (logon.type, logon.app, logon.details["source"]) == ("logon", "session", "logind")
    assert logon.start == pytest.approx(desktop["signed_in"], abs=1e-6)
    assert logon.duration_s == pytest.approx(desktop_up - desktop["signed_in"], abs=0.05)
    assert 0.25 < logon.duration_s < 30 and logon.active_s == logon.duration_s
    assert (logon.details["excess_s"], logon.severity) == (0.0, "info")
    validate_batch(make_batch("device-0001", [boot.to_wire(), logon.to_wire()], []))
    assert elapsed < 1.0, f"one read took {elapsed:.3f} s"

    assert list(sensor.poll()) == []  # once
    again = _sensor(make_ctx, reader, state_dir=sensor.ctx.state_dir, **settings)
    assert list(again.poll()) == []  # and once across a restart


@needs_xvfb
@needs_openbox
@needs_utmpdump
def test_sign_in_from_utmp(desktop, make_ctx, tmp_path):
    utmp = tmp_path / "utmp"
    user = pwd.getpwuid(os.getuid()).pw_name
    _utmp_file(utmp, [(7, os.getpid(), "tty7", user, ":0", desktop["signed_in"])])
    reader = LinuxReader([], [desktop["wm"]], 900, 900, sessions_dir=str(tmp_path / "none"), utmp_path=str(utmp))
    (logon,) = _sensor(make_ctx, reader).poll()
    assert logon.details["source"] == "utmp"
    assert logon.start == pytest.approx(desktop["signed_in"], abs=1e-5)  # utmp keeps microseconds
    assert logon.start + logon.duration_s == pytest.approx(procfs.start_time(desktop["wmproc"].pid), abs=0.05)


@needs_xvfb
def test_a_boot_nobody_signed_in_to_costs_nothing_and_waits_for_its_verdict(desktop, make_ctx, tmp_path):
    def reader():
        return LinuxReader([desktop["server"]], [desktop["wm"]], max_boot_s=time.time() - kernel_start() + 60,
                           max_logon_s=900, sessions_dir=str(tmp_path / "no-sessions"), utmp_path=str(tmp_path / "no"))

    # the sign-in screen came up less than an hour ago and nobody signed in yet: no verdict, nothing sent
    assert list(_sensor(make_ctx, reader(), state_dir=tmp_path / "a", attended_within_s=3600).poll()) == []
    (boot,) = _sensor(make_ctx, reader(), state_dir=tmp_path / "b", attended_within_s=0).poll()
    assert boot.details["attended"] is False and boot.active_s == 0.0 and boot.duration_s > 0


@needs_xvfb
def test_the_macos_reader_on_psutil(desktop):
    """Its calls are psutil's, which run here too: kern.boottime is psutil's boot_time, utmpx its users()."""
    reader = MacReader([desktop["server"]], [desktop["wm"]], max_boot_s=time.time() - kernel_start() + 60,
                       max_logon_s=900)
    boot, _ = reader.read("boot-key", set())
    assert (boot.key, boot.source) == ("boot-key", "kern.boottime")
    assert boot.ready == pytest.approx(procfs.start_time(desktop["xproc"].pid), abs=0.05)
    assert reader.read("boot-key", {"boot-key"})[0] is None  # sent: not read again


def test_no_boot_where_no_sign_in_screen_came_up_in_time(make_ctx, tmp_path):
    reader = LinuxReader(["no-such-display"], [], max_boot_s=30, max_logon_s=900,
                         sessions_dir=str(tmp_path / "none"), utmp_path=str(tmp_path / "none"))
    boot, logons = reader.read("boot-id", set())
    assert boot is None and logons == []
    if time.time() - kernel_start() > 30:
        assert reader._boot_unknown  # decided for good: the next polls do not scan the processes again


# --- Windows: Diagnostics-Performance event 100

NEWEST_BOOT = _parse_system_time("2026-11-30T07:58:12.401203100Z")  # the fixture's newest BootStartTime


def test_windows_event_100_splits_boot_and_first_sign_in(fixtures_dir):
    old, new = (measurements(ev) for ev in parse_events(_read("windows/diagnostics_performance_100.xml",
                                                              fixtures_dir)))
    boot, logon = new
    assert boot.start == NEWEST_BOOT
    assert boot.ready - boot.start == pytest.approx(32.24)  # 48.21 main path - 6.12 profile - 9.85 Explorer
    assert boot.phases["os_loader_s"] == 2.841 and boot.phases["main_path_s"] == 48.21
    assert logon.start - boot.ready == pytest.approx(14.3)  # the sign-in screen waited for the employee
    assert logon.ready - logon.start == pytest.approx(77.37)  # profile + Explorer + post-boot
    assert logon.ready == pytest.approx(_parse_system_time("2026-11-30T08:00:16.311203100Z"))  # BootEndTime
    boot1, logon1 = old  # version 1 (no UserLogonWaitDuration): the sign-in starts when the screen is up
    assert boot1.ready - boot1.start == pytest.approx(62.79) and logon1.start == boot1.ready


def test_windows_sensor_sends_the_newest_boot_once(fixtures_dir, make_ctx):
    xml = _read("windows/diagnostics_performance_100.xml", fixtures_dir)
    sensor = _sensor(make_ctx, WindowsReader(query=lambda: xml), clock=NEWEST_BOOT + 3600)
    boot, logon = sensor.poll()
    assert (boot.duration_s, boot.details["excess_s"], boot.severity, boot.active_s) == (32.24, 0.0, "info", 32.24)
    assert boot.details["attended"] and boot.details["source"] == "eventlog:100"
    assert (logon.duration_s, logon.details["excess_s"], logon.severity) == (77.37, 17.37, "warning")
    assert logon.details["logon_wait_s"] == 14.3 and logon.active_s == 77.37
    assert list(sensor.poll()) == []
    reads = []
    reader = WindowsReader(query=lambda: reads.append(1) or xml, boot_time=lambda: NEWEST_BOOT + 30)
    again = _sensor(make_ctx, reader, state_dir=sensor.ctx.state_dir, clock=NEWEST_BOOT + 7200)
    assert list(again.poll()) == [] and list(again.poll()) == []
    assert len(reads) == 1  # this boot's event was sent: the log is not read again
    reader = WindowsReader(query=lambda: reads.append(1) or xml, boot_time=lambda: NEWEST_BOOT + 86400)
    later = _sensor(make_ctx, reader, state_dir=sensor.ctx.state_dir, clock=NEWEST_BOOT + 86400 + 60)
    assert list(later.poll()) == [] and list(later.poll()) == []
    assert len(reads) == 3  # the newest event is an earlier boot's: this boot's is still to come
    for _ in range(200):
        later.poll()
    assert len(reads) == 1 + boot_windows.MAX_READS  # (one by the first reader) none came in an hour of reads: the log is not read any more


def test_boots_and_sign_ins_older_than_a_week_are_history(fixtures_dir, make_ctx):
    xml = _read("windows/diagnostics_performance_100.xml", fixtures_dir)
    sensor = _sensor(make_ctx, WindowsReader(query=lambda: xml), clock=NEWEST_BOOT + 8 * 86400)
    assert list(sensor.poll()) == []
    assert len(sensor._done) == 2  # decided: not looked at again


def test_windows_records_that_are_not_boot_events_give_nothing(fixtures_dir):
    for ev in parse_events(_read("windows/system_shutdowns.xml", fixtures_dir)):
        assert measurements(ev) is None
    ev = parse_events(_read("windows/diagnostics_performance_100.xml", fixtures_dir))[1]
    ev.data["BootStartTime"] = "yesterday"
    assert measurements(ev) is None
    ev.data.pop("BootStartTime")
    assert measurements(ev) is None


# --- state and explain


def test_an_unreadable_state_file_is_reported_and_replaced(fixtures_dir, make_ctx, caplog):
    xml = _read("windows/diagnostics_performance_100.xml", fixtures_dir)
    ctx = make_ctx()
    (ctx.state_path(STATE_FILE)).write_text("{not json")
    sensor = BootSensor(BootConfig(), ctx)
    sensor._reader = WindowsReader(query=lambda: xml)
    sensor.clock = lambda: NEWEST_BOOT + 3600
    sensor.start()
    assert "unreadable" in caplog.text
    assert len(list(sensor.poll())) == 2
    assert len(json.loads(ctx.state_path(STATE_FILE).read_text())["done"]) == 2


def test_registered_with_examples_that_pass_the_wire_check():
    assert SENSORS["boot"] is BootSensor
    examples = BootSensor.examples()
    assert [e.type for e in examples] == ["boot", "logon"]
    validate_batch(make_batch("device-0001", [e.to_wire() for e in examples], []))
