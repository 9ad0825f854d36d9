"""Crashes on Linux from the netlink process connector (root only).

A reader thread of its own receives every process event as it happens: EXEC
and FORK keep a small table pid -> (executable path, comm), read from
/proc at that moment; EXIT of a thread-group leader whose wait status says it
was killed by a fault signal (SIGSEGV, SIGABRT, ...) becomes a ``crash``.
Non-zero exits of catalogued applications become ``abnormal_exit`` (warning).
SIGTERM, SIGKILL and normal exits are not crashes. The version of the package
that installed the executable (``details.app_version``) is looked up by the
sensor's poll, not by the reader thread, which must keep up with the kernel.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

from agent.sensors._helpers import proc_connector as cn
from agent.sensors._helpers import procfs
from agent.sensors._helpers.appversion import add_version
from agent.sensors._helpers.signals import is_crash_signal, signal_name
from agent.sensors.base import Sensor, SensorConfig
from contract.events import APP_VERSION
from contract.records import Event
from contract.settings import setting

SOURCE = "proc_connector"


@dataclass
class CrashProcConfig(SensorConfig):
    interval_s: float = setting(1.0, min=0.2, max=3600, doc="how often collected crashes are handed over")
    report_abnormal_exit: bool = setting(True, doc="also report non-zero exits of catalogued apps (severity warning)")
    receive_buffer_bytes: int = setting(4 << 20, min=65536, max=256 << 20, doc="socket buffer for bursts of process events")


def _running_processes() -> dict[int, tuple[str, str]]:
    """pid -> (exe path, comm) for the processes already running."""
    table = {}
    for pid in procfs.pids():
        exe = procfs.read_exe_path(pid)
        if exe:
            table[pid] = (exe, procfs.read_comm(pid))
    return table


def _wall_time(monotonic_ns: int) -> float:
    """Convert the connector's CLOCK_MONOTONIC timestamp to Unix time."""
    return time.time() - time.monotonic() + monotonic_ns / 1e9


class CrashProcSensor(Sensor):
    """Process crashes from the kernel's process connector."""

    name = "crash_proc"
    Config = CrashProcConfig
    platforms = ("linux",)
    explain = (
        "Listens to the kernel's process start/exit notifications. Sends a 'crash' when a program dies of a fault "
        "signal (e.g. SIGSEGV), and an 'abnormal_exit' when a catalogued application exits with an error status: "
        "program name and the version of the package that installed it, signal or exit status, process id. Never "
        "command lines, arguments or file names."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._sock: socket.socket | None = None
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._procs: dict[int, tuple[str, str]] = {}
        self._out: deque[tuple[Event, str]] = deque(maxlen=10000)  # with the executable's path
        self._failure: BaseException | None = None
        self.overruns = 0

    @classmethod
    def unavailable(cls, config):
        return super().unavailable(config) or cn.unavailable_reason()

    def start(self):
        # Where the kernel can filter, only EXEC and unclean EXIT events reach us (about a tenth of them).
        event_filter = cn.CRASH_FILTER if cn.supports_event_filter(os.uname().release) else None
        self._sock = cn.open_socket(self.config.receive_buffer_bytes, event_filter)
        self._procs = _running_processes()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="crash_proc", daemon=True)
        self._thread.start()
        self.ctx.log.info("crash source: process connector (%s events; tracking %d running processes)",
                          "exec and unclean exit" if event_filter else "all", len(self._procs))

    def poll(self):
        if self._failure is not None:
            raise RuntimeError(f"process connector reader stopped: {self._failure}") from self._failure
        out = []
        while self._out:
            event, path = self._out.popleft()
            add_version(event.details, path)
            out.append(event)
        self.ctx.heartbeat_details["proc_connector_overruns"] = self.overruns
        return out

    def close(self):
        if self._thread:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self._sock:
            self._sock.close()
            self._sock = None

    # ------------------------------------------------------------ reader thread

    def _run(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._sock, self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                self._drain()
        except Exception as exc:  # handed to the runner by the next poll
            self._failure = exc

    def _drain(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overruns += 1  # the kernel dropped events; some exits may be missed
                self.ctx.log.warning("process connector overrun #%d: events were lost", self.overruns)
                self._procs = _running_processes()  # forget processes whose exit was lost
                continue
            for event in cn.decode(data):
                self._handle(event)

    def _handle(self, ev: cn.ProcEvent) -> None:
        if ev.what == cn.PROC_EVENT_EXEC:
            self._procs[ev.tgid] = (procfs.read_exe_path(ev.tgid), procfs.read_comm(ev.tgid))
        elif ev.what == cn.PROC_EVENT_FORK:
            if ev.pid == ev.tgid and ev.parent_tgid in self._procs:  # a new process, not a thread
                self._procs[ev.tgid] = self._procs[ev.parent_tgid]
        elif ev.what == cn.PROC_EVENT_COMM:
            if ev.tgid in self._procs:
                self._procs[ev.tgid] = (self._procs[ev.tgid][0], ev.comm)
        elif ev.what == cn.PROC_EVENT_EXIT and ev.pid == ev.tgid:  # thread exits are not process deaths
            path, comm = self._procs.pop(ev.tgid, None) or ("", "")
            sig, core, status = cn.wait_status(ev.exit_code)
            if not self._reportable(sig, status):
                return  # a normal exit, SIGTERM, SIGKILL...: not worth naming
            if not (path or comm):  # forked without exec, or too brief to be read at EXEC
                comm = procfs.read_comm(ev.tgid)  # the zombie's name, while its parent has not reaped it
                parent_path, parent_comm = self._procs.get(ev.parent_tgid) or self._read_now(ev.parent_tgid)
                if parent_path and comm in ("", parent_comm):  # a forked child runs its parent's program
                    path, comm = parent_path, parent_comm
            event = self._exit_event(ev, procfs.exe_name(path), comm, sig, core, status)
            if event is not None:
                self._out.append((event, path))

    def _reportable(self, sig: int, status: int) -> bool:
        """Whether an exit with this wait status can become an event (a fault signal, or an error status)."""
        return is_crash_signal(signal_name(sig)) if sig else bool(status) and self.config.report_abnormal_exit

    @staticmethod
    def _read_now(pid: int) -> tuple[str, str]:
        """(exe path, comm) of a process whose start we missed (we lagged behind, or it predates an overrun)."""
        return procfs.read_exe_path(pid), procfs.read_comm(pid)

    def _exit_event(self, ev: cn.ProcEvent, exe: str, comm: str, sig: int, core: bool, status: int) -> Event | None:
        catalogued = self.ctx.catalogue.lookup(exe) or self.ctx.catalogue.lookup(comm)
        app = catalogued.name if catalogued else (exe or comm or "unknown")
        details = {"source": SOURCE, "exe": exe or comm, "comm": comm, "pid": ev.tgid}
        when = _wall_time(ev.timestamp_ns)
        if sig:
            details.update(signal=signal_name(sig), signal_number=sig, core_dumped=core)
            return Event(type="crash", app=app, start=when, severity="error", details=details)
        if catalogued and self.config.report_abnormal_exit:
            details["exit_status"] = status
            return Event(type="abnormal_exit", app=app, start=when, severity="warning", details=details)
        return None

    @classmethod
    def examples(cls):
        now = time.time()
        base = {"source": SOURCE, "exe": "firefox-esr", "comm": "firefox-esr", "pid": 4242,
                APP_VERSION: "128.5.0esr-1~deb12u1"}
        return [
            Event(type="crash", app="firefox", start=now, details={**base, "signal": "SIGSEGV", "signal_number": 11, "core_dumped": True}),
            Event(type="abnormal_exit", app="firefox", start=now, severity="warning", details={**base, "exit_status": 1}),
        ]
