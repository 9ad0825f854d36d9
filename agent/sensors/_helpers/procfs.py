"""Thin readers of Linux /proc, shared by the Linux process sensors."""

from __future__ import annotations

import os
import sys
import time


def pids() -> list[int]:
    """Ids of all processes (thread-group leaders) now running."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def read_exe_path(pid: int) -> str:
    """Full path of a process's executable, ending in " (deleted)" if the file is gone since, or ''."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def exe_name(path: str) -> str:
    """An executable's base name, from its path as :func:`read_exe_path` gives it."""
    return os.path.basename(path).removesuffix(" (deleted)")


def read_exe(pid: int) -> str:
    """Base name of a process's executable, or '' (kernel thread, gone, or not allowed)."""
    return exe_name(read_exe_path(pid))


def read_comm(pid: int) -> str:
    """A process's name as the kernel keeps it (at most 15 characters), or ''."""
    try:
        fd = os.open(f"/proc/{pid}/comm", os.O_RDONLY)  # raw reads: this runs for every exec on the machine
    except OSError:
        return ""
    try:
        return os.read(fd, 64).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    finally:
        os.close(fd)


def read_state(pid: int) -> str | None:
    """A process's scheduler state letter (R, S, D, Z, T...), or None if it is gone."""
    fields = _stat_fields(pid)
    return fields[0].decode() if fields else None


def exiting(pid: int) -> bool:
    """Whether a process is gone, a zombie, or already tearing itself down (PF_EXITING)."""
    fields = _stat_fields(pid)
    return not fields or fields[0] in (b"Z", b"X") or bool(int(fields[6]) & _PF_EXITING)


_PF_EXITING = 0x4  # set by the kernel before it closes the process's files
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # no sysconf: not Linux, unused


def start_time(pid: int) -> float | None:
    """When a process started, in Unix seconds to about 20 ms, or None if it is gone.

    Its start in clock ticks since boot (``/proc/PID/stat``) placed on the clock through ``/proc/uptime``:
    psutil's ``create_time`` adds it to the boot time of ``/proc/stat``, kept in whole seconds.
    """
    fields = _stat_fields(pid)
    if not fields or len(fields) < 20:
        return None
    try:
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - uptime + int(fields[19]) / _CLOCK_TICKS


def started(proc) -> float:
    """A ``psutil.Process``'s start in Unix seconds: to the clock tick on Linux (:func:`start_time`), psutil's
    ``create_time`` elsewhere (raises ``psutil.Error`` if the process is gone)."""
    created = start_time(proc.pid) if sys.platform == "linux" else None
    return created if created is not None else proc.create_time()


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    end = data.rfind(b")")  # comm may contain spaces and parentheses
    fields = data[end + 2:].split() if end >= 0 else []
    return fields if len(fields) > 6 else None
