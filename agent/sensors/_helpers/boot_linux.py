"""Boot and sign-in times on Linux: systemd's boot timestamps or /proc, logind's sessions or utmp.

Boot: where systemd is PID 1, the manager's timestamps (``systemctl show``: firmware and loader times as
the boot loader handed them over, the initrd and userspace starts, in CLOCK_MONOTONIC microseconds, which
start at the kernel's start) and the moment ``display-manager.service`` (else ``graphical.target``, else the
whole start-up) was reached; the phases are the ones ``systemd-analyze`` prints. Without systemd, the
kernel's start from /proc/uptime and the start of the first display manager or X server process (its
start time in /proc/PID/stat). Sign-ins: logind's session files (/run/systemd/sessions/ID, ``KEY=value``
lines; graphical user sessions only), else utmp's USER_PROCESS records; the desktop is usable when the
first desktop shell or window manager process of the session's user started.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time

from agent.sensors._helpers import procfs
from agent.sensors._helpers.boot_common import Boot, Logon, boot_from_processes, first_start
from agent.sensors._helpers.idle_logind import parse_show_session as parse_key_values

SESSIONS_DIR = "/run/systemd/sessions"
UTMP_PATH = "/run/utmp"
MANAGER_PROPERTIES = ("FirmwareTimestampMonotonic", "LoaderTimestampMonotonic", "InitRDTimestampMonotonic",
                      "UserspaceTimestampMonotonic", "FinishTimestampMonotonic")
READY_UNITS = ("display-manager.service", "graphical.target")  # the first one reached means "up for a user"
GRAPHICAL_TYPES = ("x11", "wayland", "mir")
MAX_SESSIONS = 256  # session files or utmp records read at once
MAX_FILE_BYTES = 64 << 10  # a session file is well under 1 KiB

# glibc's struct utmp on Linux (the same on 32- and 64-bit): type, pid, line, id, user, host, exit status,
# session, tv_sec, tv_usec, addr_v6, reserved; 384 bytes
UTMP = struct.Struct("<h2xi32s4s32s256shhiii16s20s")
USER_PROCESS = 7


class SystemdUnavailable(Exception):
    """systemd is not this machine's init, or systemctl could not tell."""


def _systemctl_show(*args: str) -> str:
    if not os.path.isdir("/run/systemd/system"):  # sd_booted(3): how systemd itself tells it is PID 1
        raise SystemdUnavailable("systemd is not the init system")
    proc = subprocess.run(["systemctl", "show", "--no-pager", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise SystemdUnavailable(proc.stderr.strip()[:200] or f"systemctl exited with {proc.returncode}")
    return proc.stdout


def _microseconds(props: dict[str, str], name: str) -> int:
    try:
        return max(0, int(props.get(name, "0")))
    except ValueError:
        return 0


def systemd_phases(manager: str, units: str) -> tuple[float, float, dict[str, float]] | None:
    """From ``systemctl show`` of the manager's timestamps and of the READY_UNITS (blocks separated by blank
    lines): (seconds before the kernel's start, seconds from it to up-for-a-user, phases), or None when the
    boot has not reached a user yet."""
    props = parse_key_values(manager)
    firmware, loader, initrd, userspace, finish = (_microseconds(props, p) for p in MANAGER_PROPERTIES)
    ready = 0
    for block in units.split("\n\n"):  # the first unit of READY_UNITS that was reached
        ready = _microseconds(parse_key_values(block), "ActiveEnterTimestampMonotonic")
        if ready:
            break
    if not ready or (finish and ready > finish):  # not reached, or reached again later (a restarted display manager)
        ready = finish
    if not ready or not userspace or ready < userspace:
        return None
    phases = {"firmware_s": (firmware - loader) / 1e6 if firmware > loader else 0.0, "loader_s": loader / 1e6,
              "kernel_s": (initrd or userspace) / 1e6, "initrd_s": (userspace - initrd) / 1e6 if initrd else 0.0,
              "userspace_s": (ready - userspace) / 1e6}
    before_kernel = max(firmware, loader) / 1e6
    return before_kernel, ready / 1e6, {k: round(v, 3) for k, v in phases.items() if v > 0 or k == "kernel_s"}


def kernel_start() -> float:
    """When the kernel started, in Unix seconds (now less /proc/uptime, finer than /proc/stat's btime)."""
    with open("/proc/uptime", "rb") as fh:
        return time.time() - float(fh.read().split()[0])


def parse_session(text: str) -> dict[str, str]:
    """A logind session file (``KEY=value`` lines, comments ignored) into a dict."""
    return parse_key_values("\n".join(line for line in text.splitlines() if not line.startswith("#")))


def parse_utmp(data: bytes) -> list[dict]:
    """The USER_PROCESS records of a utmp file: pid, line, user, start (Unix seconds)."""
    records = []
    for offset in range(0, len(data) - UTMP.size + 1, UTMP.size):
        ut_type, pid, line, _id, user, _host, _term, _exit, _session, sec, usec, _addr, _ = \
            UTMP.unpack_from(data, offset)
        if ut_type == USER_PROCESS and sec > 0:
            records.append({"pid": pid, "line": line.split(b"\0", 1)[0].decode("utf-8", "replace"),
                            "user": user.split(b"\0", 1)[0].decode("utf-8", "replace"),
                            "start": sec + min(max(usec, 0), 999999) / 1e6})
            if len(records) >= MAX_SESSIONS:
                break
    return records


class LinuxReader:
    """Reads this boot and the graphical sign-ins since."""

    def __init__(self, display_processes: list[str], desktop_processes: list[str], max_boot_s: float,
                 max_logon_s: float, sessions_dir: str = SESSIONS_DIR, utmp_path: str = UTMP_PATH):
        self.display_processes, self.desktop_processes = display_processes, desktop_processes
        self.max_boot_s, self.max_logon_s = max_boot_s, max_logon_s
        self.sessions_dir, self.utmp_path = sessions_dir, utmp_path
        self._boot_unknown = False  # known for good that this boot's times cannot be read
        self._found: Boot | None = None  # this boot once read: its times do not change, so asked for once

    def read(self, boot_key: str, done: set[str]) -> tuple[Boot | None, list[Logon]]:
        """This boot (None until it is up for a user, once it is in ``done``, or where it cannot be known) and
        the graphical sign-ins since it; a desktop's start is looked up only for sign-ins not in ``done``."""
        kernel = kernel_start()
        if boot_key in done or self._boot_unknown:
            boot = None
        else:
            if self._found is None or self._found.key != boot_key:
                self._found = self._boot(boot_key, kernel)
            boot = self._found
        return boot, self._logons(kernel, done)

    def _boot(self, key: str, kernel: float) -> Boot | None:
        try:
            found = systemd_phases(_systemctl_show("--property=" + ",".join(MANAGER_PROPERTIES)),
                                   _systemctl_show("--property=Id,ActiveEnterTimestampMonotonic", *READY_UNITS))
        except (SystemdUnavailable, OSError, subprocess.SubprocessError):
            found = None
        if found:
            before_kernel, ready, phases = found
            return Boot(key=key, start=kernel - before_kernel, ready=kernel + ready, source="systemd", phases=phases)
        boot, self._boot_unknown = boot_from_processes(key, kernel, self.display_processes, self.max_boot_s, "proc",
                                                       time.time())
        init = procfs.start_time(1)
        if boot and init:
            boot.phases = {"kernel_s": round(init - kernel, 3), "userspace_s": round(boot.ready - init, 3)}
        return boot

    def _logons(self, since: float, done: set[str]) -> list[Logon]:
        sessions = self._logind_sessions() if os.path.isdir(self.sessions_dir) else self._utmp_sessions()
        out = []
        for key, start, uid, source in sessions:
            if start < since:
                continue
            ready = None
            if key not in done:
                ready = first_start(self.desktop_processes, start, start + self.max_logon_s, uid=uid)
            out.append(Logon(key=key, start=start, ready=ready, source=source))
        return out

    def _logind_sessions(self) -> list[tuple[str, float, int, str]]:
        out = []
        for name in sorted(os.listdir(self.sessions_dir))[:MAX_SESSIONS]:
            if name.endswith(".ref"):  # the session's FIFO, not its record
                continue
            try:
                with open(os.path.join(self.sessions_dir, name), "rb") as fh:
                    props = parse_session(fh.read(MAX_FILE_BYTES).decode("utf-8", "replace"))
                realtime, uid = int(props.get("REALTIME", "0")), int(props.get("UID", "-1"))
            except (OSError, ValueError):
                continue
            if props.get("CLASS") == "user" and props.get("TYPE") in GRAPHICAL_TYPES and realtime > 0 and uid >= 0:
                out.append((f"logind:{name}:{realtime}", realtime / 1e6, uid, "logind"))
        return out

    def _utmp_sessions(self) -> list[tuple[str, float, int, str]]:
        try:
            with open(self.utmp_path, "rb") as fh:
                records = parse_utmp(fh.read(UTMP.size * MAX_SESSIONS))
        except OSError:
            return []
        import pwd  # POSIX only: not at import time, so that a walk of the package imports this module anywhere

        out = []
        for rec in records:
            try:
                uid = pwd.getpwnam(rec["user"]).pw_uid
            except (KeyError, UnicodeEncodeError):
                continue
            out.append((f"utmp:{rec['pid']}:{rec['start']:.6f}", rec["start"], uid, "utmp"))
        return out
