"""The remote-support sensor on real processes named like the tools' session and service processes.

A small shell script named ``rustdesk`` (the kernel names the process after the
script) plays RustDesk: ``rustdesk --server`` is its always-running service,
``rustdesk --cm`` its connection manager, which lives only while a technician
is connected. The script waits on its standard input, so closing it ends the
"session" at a known moment. The other OSes' rows are checked against the
process lists in fixtures/windows/remote_support_processes.tsv, and
TeamViewer's log of finished sessions is followed in a real file written the
way TeamViewer appends to it (fixtures/windows/teamviewer_Connections_incoming.txt).
"""

from __future__ import annotations

import calendar
import shutil
import subprocess
import sys
import time

import pytest

from agent.config import load_config
from agent.explain import render
from agent.sensors._helpers import procfs
from agent.sensors._helpers.parse_teamviewer import session_times
from agent.sensors.remote_support import (SIGNATURES, Matcher, RemoteSupportConfig, RemoteSupportSensor,
                                          signatures_for)
from contract import records
from contract.check import validate_batch
from contract.settings import ConfigError, load_section

POLL_S = 0.05


def _config(**raw) -> RemoteSupportConfig:
    return load_section(RemoteSupportConfig, {"min_session_s": 0, **raw}, "sensors.remote_support")


@pytest.fixture
def program(tmp_path):
    """Start ``name *args`` as a real process (a script that lives until its stdin closes)."""
    started = []

    def start(name: str, *args: str) -> subprocess.Popen:
        path = tmp_path / name
        if not path.exists():
            path.write_text("#!/bin/sh\nread line\n")
            path.chmod(0o755)
        proc = subprocess.Popen([str(path), *args], stdin=subprocess.PIPE)  # returns once the script runs
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _end(proc: subprocess.Popen) -> float:
    """End a session process the way the tool does (it exits); returns when it is gone."""
    proc.stdin.close()
    proc.wait(timeout=10)
    return time.time()


def _sensor(make_ctx, **raw) -> RemoteSupportSensor:
    sensor = RemoteSupportSensor(_config(**raw), make_ctx())
    sensor.start()
    return sensor


def _accepted(events) -> bool:
    """Whether the collector's full contract check accepts these events as the agent would send them."""
    return bool(validate_batch(records.make_batch("device-0001", [ev.to_wire() for ev in events], [])))


def _poll_for(sensor, seconds: float) -> list:
    events, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        events += sensor.poll()
        time.sleep(POLL_S)
    return events


@pytest.mark.skipif(not sys.platform.startswith("linux") or not (shutil.which("sh") and shutil.which("sleep")),
                    reason="real processes here are Linux ones (/proc, sh, sleep)")
class TestLinuxProcesses:
    def test_the_service_alone_is_no_session(self, make_ctx, program):
        program("rustdesk", "--server")
        program("rustdesk", "--service")
        sensor = _sensor(make_ctx)
        assert _poll_for(sensor, 0.5) == []
        assert sensor.close() == []

    def test_a_session_is_one_event_when_it_ends(self, make_ctx, program):
        program("rustdesk", "--server")
        sensor = _sensor(make_ctx)
        before = time.time()
        cm = program("rustdesk", "--cm")
        began = procfs.start_time(cm.pid)
        assert before - 0.05 <= began <= time.time() + 0.05  # the process's start, to the clock tick
        # the employee was active for 0.4 s inside the session, and before it (which must not count)
        sensor.ctx.activity.mark_active(began - 5, began - 4)
        sensor.ctx.activity.mark_active(began + 0.1, began + 0.5)
        assert _poll_for(sensor, 0.8) == []  # still in session: nothing yet
        ended = _end(cm)
        events = _poll_for(sensor, 0.5)
        assert len(events) == 1
        ev = events[0]
        assert (ev.type, ev.app, ev.severity) == ("support_session", "RustDesk", "info")
        assert ev.details == {"tool": "RustDesk", "signature": "rustdesk --cm"}
        assert ev.start == pytest.approx(began, abs=0.02)
        assert ev.duration_s == pytest.approx(ended - began, abs=POLL_S + 0.1)
        assert ev.active_s == pytest.approx(0.4, abs=1e-3)
        assert _accepted(events)
        assert _poll_for(sensor, 0.3) == [] and sensor.close() == []  # the service still runs: nothing more

    def test_a_session_shorter_than_the_minimum_is_dropped(self, make_ctx, program):
        sensor = _sensor(make_ctx, min_session_s=5)
        cm = program("rustdesk", "--cm-no-ui")
        assert _poll_for(sensor, 0.4) == []
        _end(cm)
        assert _poll_for(sensor, 0.3) == []

    def test_a_session_open_at_stop_is_sent_with_what_was_measured(self, make_ctx, program):
        sensor = _sensor(make_ctx)
        cm = program("rustdesk", "--cm")
        _poll_for(sensor, 0.3)
        (ev,) = sensor.close()
        assert ev.details["open_at_stop"] is True
        assert ev.duration_s == pytest.approx(time.time() - procfs.start_time(cm.pid), abs=0.1)

    def test_an_administrator_added_tool(self, make_ctx, program):
        sensor = _sensor(make_ctx, tools=[{"name": "Helpdesk Viewer", "process": "hd-viewer*", "args": "--session"}])
        program("hd-viewer-agent", "--idle")  # its background process: no session
        viewer = program("hd-viewer-2", "--session", "7")
        _poll_for(sensor, 0.3)
        _end(viewer)
        (ev,) = _poll_for(sensor, 0.3)
        assert (ev.app, ev.details["signature"]) == ("Helpdesk Viewer", "hd-viewer* --session")

    def test_a_name_linux_truncates_is_matched_in_full(self, make_ctx, program, tmp_path):
        # remote-assistance-host (22 characters) appears as "remote-assistan" in /proc/PID/comm; a real ELF program
        # keeps its own path as argv[0], which the sensor reads instead.
        binary = tmp_path / "remote-assistance-host"
        shutil.copy(shutil.which("sleep"), binary)
        proc = subprocess.Popen([str(binary), "30"])
        try:
            sensor = _sensor(make_ctx)
            _poll_for(sensor, 0.3)
            proc.kill()
            proc.wait()
            (ev,) = _poll_for(sensor, 0.3)
            assert ev.app == "Chrome Remote Desktop"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _recorded(fixtures_dir):
    for line in (fixtures_dir / "windows" / "remote_support_processes.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            os_name, state, tool, name, args = (line.split("\t", 4) + [""])[:5]
            yield os_name, state, tool, name, args.split()


def test_every_table_row_matches_its_recorded_session_and_no_service(fixtures_dir):
    rows = list(_recorded(fixtures_dir))
    matched = set()
    for os_name in ("linux", "win32", "darwin"):
        matcher = Matcher(signatures_for(os_name))
        for row_os, state, tool, name, args in rows:
            if row_os != os_name:
                continue
            sig = matcher.match(name, args)
            if state == "session":
                assert sig is not None and sig.tool == tool, (os_name, name, args)
                matched.add(sig)
            else:
                assert sig is None, f"{os_name}: the background process {name} {args} counts as a session"
    assert matched == set(SIGNATURES), "every built-in signature has a recorded session"


def test_the_agent_config_bounds_the_tools():
    with pytest.raises(ConfigError, match="not a regular expression"):
        _config(tools=[{"name": "X", "process": "x", "args": "(["}])
    with pytest.raises(ConfigError, match="at most 32 tools"):
        _config(tools=[{"name": f"T{i}", "process": "t"} for i in range(33)])
    with pytest.raises(ConfigError, match="missing"):
        _config(tools=[{"name": "no process"}])
    with pytest.raises(ConfigError, match="below the minimum"):
        _config(interval_s=0.1)


def _utc(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")))


def test_teamviewer_log_lines_give_their_session_times_and_nothing_else(fixtures_dir):
    lines = (fixtures_dir / "windows" / "teamviewer_Connections_incoming.txt").read_text().splitlines()
    assert [session_times(line) for line in lines] == [
        (_utc("2026-11-26 09:14:02"), _utc("2026-11-26 09:41:37"), "RemoteControl"),
        (_utc("2026-11-26 10:02:11"), _utc("2026-11-26 10:02:40"), "FileTransfer"),
        None,  # 31 April does not exist
        None,  # ends before it starts
        None,  # not a session line
        (_utc("2026-11-26 23:58:30"), _utc("2026-11-27 00:21:05"), "RemoteControl"),  # across midnight
    ]


def test_teamviewer_sessions_are_read_as_they_are_appended(make_ctx, fixtures_dir, tmp_path):
    recorded = (fixtures_dir / "windows" / "teamviewer_Connections_incoming.txt").read_bytes().splitlines(True)
    log = tmp_path / "TeamViewer" / "Connections_incoming.txt"
    log.parent.mkdir()
    log.write_bytes(recorded[0])  # a session before the agent first looked: history, never sent
    ctx = make_ctx()
    sensor = RemoteSupportSensor(_config(teamviewer_logs=[str(log)], min_session_s=60), ctx)
    sensor.start()
    assert sensor.poll() == []
    with log.open("ab") as fh:
        fh.write(b"".join(recorded[1:]) + recorded[0][:30])  # then the rest, and half a line still being written
    events = sensor.poll()
    # the 29 s file transfer is below the minimum; the three bad lines and the half line are skipped
    assert [(ev.app, ev.start, ev.duration_s, ev.details["connection_type"]) for ev in events] == [
        ("TeamViewer", _utc("2026-11-26 23:58:30"), 1355.0, "RemoteControl")]
    assert events[0].details["signature"] == "Connections_incoming.txt"
    assert not any(word in repr(events[0].to_wire()) for word in ("Anna", "anna", "555000111", "3C4D5E6F"))
    assert _accepted(events)

    with log.open("ab") as fh:
        fh.write(recorded[0][30:])  # the half line completed
    (ev,) = sensor.poll()
    assert ev.start == _utc("2026-11-26 09:14:02")

    with log.open("ab") as fh:
        fh.write(recorded[1])  # a session that ended while the agent was stopped
    restarted = RemoteSupportSensor(_config(teamviewer_logs=[str(log)]), ctx)  # same state directory
    restarted.start()
    assert [ev.duration_s for ev in restarted.poll()] == [29.0]  # read from where the first one stopped
    assert restarted.poll() == []  # nothing read twice
    log.write_bytes(recorded[0])  # TeamViewer started a new file: read from its start
    assert [ev.duration_s for ev in restarted.poll()] == [1655.0]


def test_explain_lists_what_the_sensor_watches_from_the_agent_config(tmp_path):
    cfg_file = tmp_path / "agent.toml"
    cfg_file.write_text('[agent]\ncollector = "https://hinder.example.com"\nstate_dir = "/var/lib/hinder-test"\n'
                        '[[sensors.remote_support.tools]]\nname = "Helpdesk Viewer"\nprocess = "hd-viewer*"\n'
                        'args = "--session"\n'
                        '[sensors.remote_support]\nteamviewer_logs = ["/opt/teamviewer/Connections_incoming.txt"]\n')
    text = render(load_config(cfg_file, env={}))
    section = text[text.index("* remote_support"):]
    assert "    - RustDesk: rustdesk --cm" in section
    assert "    - Helpdesk Viewer: hd-viewer* --session" in section
    assert "    - TeamViewer: the session times in /opt/teamviewer/Connections_incoming.txt" in section
