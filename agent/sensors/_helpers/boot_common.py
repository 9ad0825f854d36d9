"""What the boot sensor's per-OS readers return, and the process starts they share (psutil, every OS)."""

from __future__ import annotations

from dataclasses import dataclass, field

import psutil

from agent.sensors._helpers import procfs

MAX_PROCESS_NAME = 15  # Linux keeps a process's name to 15 characters: names are compared that long


@dataclass
class Boot:
    """One boot: from power-on (or the earliest moment the OS knows) to the system up for a user."""

    key: str  # identifies the boot across agent restarts (Linux boot_id, the boot's start time elsewhere)
    start: float  # Unix seconds
    ready: float  # Unix seconds: the sign-in screen is up
    source: str
    phases: dict[str, float] = field(default_factory=dict)  # e.g. kernel_s, userspace_s


@dataclass
class Logon:
    """One sign-in: from the credentials accepted (the session created) to a usable desktop."""

    key: str  # identifies the session across agent restarts
    start: float  # Unix seconds
    ready: float | None  # Unix seconds when the desktop was up, None while it is not (yet)
    source: str
    phases: dict[str, float] = field(default_factory=dict)


def first_start(names: list[str], after: float, before: float, uid: int | None = None,
                user: str | None = None) -> float | None:
    """The earliest start, within [after, before], of a running process with one of these names (and of this
    user id, or user name, when given), or None."""
    wanted = {n[:MAX_PROCESS_NAME] for n in names}
    best = None
    for proc in psutil.process_iter(["name"]):
        try:
            if (proc.info["name"] or "")[:MAX_PROCESS_NAME] not in wanted:
                continue
            if uid is not None and proc.uids().real != uid:
                continue
            if user is not None and proc.username() != user:
                continue
            started = procfs.started(proc)
        except psutil.Error:
            continue
        if after <= started <= before and (best is None or started < best):
            best = started
    return best


def boot_from_processes(key: str, kernel: float, names: list[str], max_boot_s: float, source: str,
                        now: float) -> tuple[Boot | None, bool]:
    """The boot from the kernel's start to the first of these processes (a display manager, loginwindow) started
    within ``max_boot_s`` of it, and whether a missing one is final (that time has passed)."""
    ready = first_start(names, kernel, kernel + max_boot_s)
    if ready is None:
        return None, now > kernel + max_boot_s
    return Boot(key=key, start=kernel, ready=ready, source=source), False
