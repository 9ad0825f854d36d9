"""POSIX signal names and which signals mean a crash (shared by the Linux and macOS sensors)."""

from __future__ import annotations

import signal

# Signals whose default action is to dump core: the process died of a fault, not a request.
# SIGQUIT, SIGXCPU and SIGXFSZ also dump core but are requests or limits, not faults.
CRASH_SIGNALS = frozenset({"SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL", "SIGFPE", "SIGSYS", "SIGTRAP"})


def signal_name(number: int) -> str:
    """The name of a signal number on this OS, e.g. 11 -> 'SIGSEGV'; 'SIG<n>' if unknown."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def is_crash_signal(name: str) -> bool:
    """True if a process killed by this signal crashed (as opposed to being stopped)."""
    return name in CRASH_SIGNALS
