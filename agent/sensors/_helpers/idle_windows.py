"""Windows idle time: GetLastInputInfo in the user's session, ``query user`` from a service.

GetLastInputInfo only sees input of the calling process's session; the agent
running as a service lives in session 0 where nobody types, so there we parse
``query user`` (quser), whose IDLE TIME column gives each session's idle time
to the minute ("none" or "." under a minute, "5", "1:05", "2+03:04").
"""

from __future__ import annotations

import re
import subprocess

_IDLE = re.compile(r"^(?:(\d+)\+)?(?:(\d+):)?(\d+)$")


def parse_idle_field(text: str) -> float | None:
    """Seconds from one IDLE TIME value."""
    if text.lower() in ("none", ".", "0"):
        return 0.0
    m = _IDLE.match(text)
    if not m:
        return None
    days, hours, minutes = (int(g) if g else 0 for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60.0


def parse_query_user(text: str) -> float | None:
    """The smallest idle time of the connected (not disconnected) sessions, in seconds."""
    best = None
    for line in text.splitlines()[1:]:
        tokens = line.lstrip(" >").split()
        ids = [i for i, t in enumerate(tokens) if i >= 1 and t.isdigit()]
        if not ids or ids[0] + 2 >= len(tokens):
            continue
        state, idle = tokens[ids[0] + 1], parse_idle_field(tokens[ids[0] + 2])
        if idle is None or state.lower().startswith("disc"):
            continue
        best = idle if best is None else min(best, idle)
    return best


class WindowsIdle:
    name = "windows"

    def __init__(self, in_session: bool):
        self._in_session = in_session

    @classmethod
    def open(cls) -> "WindowsIdle | None":
        import ctypes

        session = ctypes.c_ulong(0)
        ctypes.windll.kernel32.ProcessIdToSessionId(ctypes.windll.kernel32.GetCurrentProcessId(), ctypes.byref(session))
        return cls(in_session=session.value != 0)

    def read(self) -> tuple[float, bool] | None:
        if self._in_session:
            import ctypes

            class LASTINPUTINFO(ctypes.Structure):
                _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint)]

            info = LASTINPUTINFO(ctypes.sizeof(LASTINPUTINFO), 0)
            if not ctypes.windll.user32.GetLastInputInfo(ctypes.byref(info)):
                return None
            millis = (ctypes.windll.kernel32.GetTickCount() - info.dwTime) & 0xFFFFFFFF
            return millis / 1000.0, False
        try:
            out = subprocess.run(["query", "user"], capture_output=True, text=True, timeout=10,
                                 creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0)).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        idle = parse_query_user(out)
        return None if idle is None else (idle, False)

    def close(self) -> None:
        pass
