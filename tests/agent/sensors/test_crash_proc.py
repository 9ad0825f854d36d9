"""The process-connector crash sensor: decoding on bytes, then real crashing processes."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from agent.catalogue import App
from agent.sensors._helpers import proc_connector as cn
from agent.sensors.crash_proc import CrashProcConfig, CrashProcSensor
from contract.check import validate_batch
from contract.records import Event, make_batch


def _message(what: int, body: bytes, idx: int = cn.CN_IDX_PROC) -> bytes:
    payload = struct.pack("=IIQ", what, 0, 123_000_000) + body
    cn_msg = struct.pack("=IIIIHH", idx, cn.CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return struct.pack("=IHHII", 16 + len(cn_msg), cn.NLMSG_DONE, 0, 0, 0) + cn_msg


def test_decode_exit_fork_exec_comm():
    data = (
        _message(cn.PROC_EVENT_EXIT, struct.pack("=IIIiII", 10, 10, 0x8B, 17, 1, 1))
        + _message(cn.PROC_EVENT_FORK, struct.pack("=IIII", 1, 1, 11, 11))
        + _message(cn.PROC_EVENT_EXEC, struct.pack("=II", 11, 11))
        + _message(cn.PROC_EVENT_COMM, struct.pack("=II16s", 11, 11, b"worker\0junk"))
    )
    exit_, fork, exec_, comm = cn.decode(data)
    assert (exit_.what, exit_.pid, exit_.tgid, exit_.exit_code, exit_.timestamp_ns) == (cn.PROC_EVENT_EXIT, 10, 10, 0x8B, 123_000_000)
    assert (fork.pid, fork.tgid, fork.parent_tgid) == (11, 11, 1)
    assert (exec_.what, exec_.tgid) == (cn.PROC_EVENT_EXEC, 11)
    assert comm.comm == "worker"


def test_decode_skips_other_connectors_and_truncated_messages():
    other = _message(cn.PROC_EVENT_EXEC, struct.pack("=II", 5, 5), idx=7)
    truncated = _message(cn.PROC_EVENT_EXIT, struct.pack("=II", 5, 5))
    assert cn.decode(other + truncated) == []
    assert cn.decode(b"\x01\x00") == []


def test_exit_carries_the_parent_when_the_kernel_sends_it():
    (ev,) = cn.decode(_message(cn.PROC_EVENT_EXIT, struct.pack("=IIIiII", 10, 10, 6, 17, 4, 3)))
    assert ev.parent_tgid == 3
    (old,) = cn.decode(_message(cn.PROC_EVENT_EXIT, struct.pack("=IIIi", 10, 10, 6, 17)))
    assert old.parent_tgid == 0 and old.exit_code == 6


@pytest.mark.parametrize("release,expected", [("6.18.44-fc-v657", True), ("6.6.0", True), ("6.5.13-amd64", False),
                                              ("5.15.0-91-generic", False), ("4.19.0", False), ("weird", False)])
def test_event_filter_needs_linux_6_6(release, expected):
    assert cn.supports_event_filter(release) is expected


def test_listen_message_with_and_without_filter():
    plain = cn.listen_message(42)
    filtered = cn.listen_message(42, cn.CRASH_FILTER)
    assert len(plain) == 16 + 20 + 4 and len(filtered) == 16 + 20 + 8
    assert struct.unpack_from("=II", filtered, 36) == (cn.PROC_CN_MCAST_LISTEN, cn.PROC_EVENT_EXEC | cn.PROC_EVENT_NONZERO_EXIT)


def test_wait_status():
    assert cn.wait_status(0x8B) == (11, True, 0)  # SIGSEGV, core dumped
    assert cn.wait_status(6) == (6, False, 0)
    assert cn.wait_status(3 << 8) == (0, False, 3)


# ------------------------------------------------------------------ real kernel

@pytest.fixture(scope="module")
def crasher(test_program):
    return test_program("crasher")


@pytest.fixture(params=["filtered", "all events"])
def sensor(request, make_ctx, crasher, monkeypatch):
    """The sensor on the real kernel: with the 6.6+ event filter, and subscribed to everything as on older kernels."""
    reason = CrashProcSensor.unavailable(CrashProcConfig())
    if reason:
        pytest.skip(reason)
    if request.param == "all events":
        monkeypatch.setattr(cn, "supports_event_filter", lambda release: False)
    elif not cn.supports_event_filter(os.uname().release):
        pytest.skip("this kernel has no per-listener event filter (Linux < 6.6)")
    ctx = make_ctx(apps=[App(name="Crasher", executables=[crasher.name])])
    s = CrashProcSensor(CrashProcConfig(), ctx)
    s.start()
    yield s
    s.close()


def _ours(events: list[Event], exe: str) -> list[Event]:
    return [e for e in events if e.details.get("exe") == exe]


def test_reports_exactly_the_crashes_with_signal_and_executable(sensor, crasher, poll_until):
    expected = {"segv": "SIGSEGV", "abrt": "SIGABRT", "bus": "SIGBUS", "fpe": "SIGFPE"}
    crashed_pids = {}
    for how in expected:
        proc = subprocess.run([str(crasher), how])
        assert proc.returncode < 0, f"{how} should have died of a signal"
    for how in ("exit0", "exit3"):
        subprocess.run([str(crasher), how])
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen([str(crasher), "sleep"])
        proc.send_signal(sig)
        proc.wait()
    events = poll_until(sensor, lambda ev: len(_ours(ev, crasher.name)) >= 5, timeout=20)
    # a little longer, to see that nothing else arrives
    events += poll_until(sensor, lambda ev: False, timeout=1.0)
    ours = _ours(events, crasher.name)
    crashes = [e for e in ours if e.type == "crash"]
    assert sorted(e.details["signal"] for e in crashes) == sorted(expected.values())
    for e in crashes:
        assert e.app == "Crasher" and e.severity == "error" and e.details["source"] == "proc_connector"
        assert e.details["core_dumped"] is False  # RLIMIT_CORE is 0 in the child
        crashed_pids[e.details["pid"]] = e.details["signal"]
    exits = [e for e in ours if e.type == "abnormal_exit"]
    assert [(e.details["exit_status"], e.severity) for e in exits] == [(3, "warning")]
    assert len(ours) == 5  # nothing for exit 0, SIGTERM or SIGKILL
    validate_batch(make_batch("device-0001", [e.to_wire() for e in ours], []))


def test_crash_of_a_process_started_by_another_process(sensor, crasher, poll_until):
    subprocess.run(["sh", "-c", f"{crasher} segv; true"])
    events = poll_until(sensor, lambda ev: _ours(ev, crasher.name))
    (crash,) = _ours(events, crasher.name)
    assert crash.details["signal"] == "SIGSEGV" and crash.details["signal_number"] == 11


def test_crash_of_a_forked_child_that_never_called_exec(sensor, poll_until):
    code = ("import os, resource, ctypes, time\n"
            "if os.fork() == 0:\n"
            "    resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); ctypes.string_at(0)\n"
            "os.wait(); time.sleep(1)")  # the parent lives on, as a browser or a shell does
    parent = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    exe = os.path.basename(os.path.realpath(sys.executable))
    events = poll_until(sensor, lambda ev: [e for e in _ours(ev, exe) if e.details.get("pid") != parent.pid])
    parent.wait()
    child = [e for e in _ours(events, exe) if e.details["pid"] != parent.pid]
    assert child and child[0].details["signal"] == "SIGSEGV"


def test_python_null_pointer_read_is_a_segfault_of_the_interpreter(sensor, poll_until):
    code = "import ctypes, resource; resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); ctypes.string_at(0)"
    proc = subprocess.run([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    assert proc.returncode == -signal.SIGSEGV
    exe = os.path.basename(os.path.realpath(sys.executable))
    events = poll_until(sensor, lambda ev: _ours(ev, exe))
    crash = [e for e in _ours(events, exe) if e.type == "crash"]
    assert crash and crash[0].details["signal"] == "SIGSEGV" and crash[0].app == exe


def test_thread_exits_are_not_process_deaths(sensor, crasher, poll_until):
    code = "import threading; t = threading.Thread(target=lambda: None); t.start(); t.join()"
    threaded = subprocess.Popen([sys.executable, "-c", code])
    threaded.wait()
    subprocess.run([str(crasher), "abrt"])
    events = poll_until(sensor, lambda ev: _ours(ev, crasher.name))
    assert [e.details["signal"] for e in _ours(events, crasher.name)] == ["SIGABRT"]
    # nothing of our threaded process (the connector sees every process here: other tests' too, so by its pid)
    assert not [e for e in events if e.details.get("pid") == threaded.pid]


def test_a_dead_reader_is_reported_by_the_next_poll(make_ctx):
    sensor = CrashProcSensor(CrashProcConfig(), make_ctx())
    sensor._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sensor._sock.close()  # select() on it fails, as it would if the kernel tore the socket down
    sensor._wake_r, sensor._wake_w = os.pipe()
    sensor._run()
    with pytest.raises(RuntimeError, match="process connector reader stopped"):
        sensor.poll()
    sensor.close()


def test_heartbeat_reports_overruns(sensor):
    sensor.poll()
    assert sensor.ctx.heartbeat_details["proc_connector_overruns"] == 0


def _no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="no dpkg database here")
def test_a_crash_carries_the_version_of_the_package_that_installed_the_program(sensor, poll_until, tmp_path):
    packaged = os.path.realpath(shutil.which("sleep"))
    owner = subprocess.run(["dpkg-query", "-S", packaged.removeprefix("/usr")], capture_output=True, text=True)
    package = owner.stdout.split(":")[0] if owner.returncode == 0 else "coreutils"
    expected = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                              check=True).stdout
    unpackaged = tmp_path / "sleep"
    shutil.copy2(packaged, unpackaged)
    pids = {}
    for exe in (packaged, str(unpackaged)):
        proc = subprocess.Popen([exe, "30"], preexec_fn=_no_core)
        time.sleep(0.2)  # past its exec
        proc.send_signal(signal.SIGSEGV)
        proc.wait()
        pids[exe] = proc.pid
    events = poll_until(sensor, lambda ev: {e.details["pid"] for e in _ours(ev, "sleep")} >= set(pids.values()))
    by_pid = {e.details["pid"]: e for e in _ours(events, "sleep")}
    assert by_pid[pids[packaged]].details["app_version"] == expected
    assert by_pid[pids[packaged]].details["signal"] == "SIGSEGV"
    assert "app_version" not in by_pid[pids[str(unpackaged)]].details
    validate_batch(make_batch("device-0001", [e.to_wire() for e in by_pid.values()], []))
