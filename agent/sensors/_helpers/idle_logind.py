"""systemd-logind idle and lock hints of the active user session (``loginctl``).

IdleHint/IdleSinceHint are set by the desktop environment (after its own idle
delay, so they are coarse); LockedHint is set when the screen is locked. Used
where no X display can be read (Wayland, a headless service).
"""

from __future__ import annotations

import shutil
import subprocess
import time

_PROPS = ("Class", "Active", "Type", "IdleHint", "IdleSinceHint", "LockedHint")


def parse_show_session(text: str) -> dict[str, str]:
    """``Name=Value`` lines of ``loginctl show-session`` into a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def idle_from_props(props: dict[str, str], now: float) -> tuple[float, bool]:
    """(idle seconds, locked) from session properties; IdleSinceHint is in realtime microseconds."""
    locked = props.get("LockedHint") == "yes"
    if props.get("IdleHint") != "yes":
        return 0.0, locked
    since = int(props.get("IdleSinceHint") or 0) / 1e6
    return (max(0.0, now - since) if since else float("inf")), locked


def _run(*args: str) -> str:
    return subprocess.run(["loginctl", *args], capture_output=True, text=True, timeout=10).stdout


class LogindIdle:
    name = "logind"

    def __init__(self):
        self._session: str | None = None

    @classmethod
    def open(cls) -> "LogindIdle | None":
        if not shutil.which("loginctl"):
            return None
        reader = cls()
        return reader if reader._find_session() else None

    def _find_session(self) -> str | None:
        try:
            ids = [line.split()[0] for line in _run("list-sessions", "--no-legend").splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            return None
        best = None
        for sid in ids:
            props = self._props(sid)
            if props.get("Class") == "user" and props.get("Active") == "yes":
                if best is None or props.get("Type") in ("x11", "wayland"):
                    best = sid
        self._session = best
        return best

    def _props(self, sid: str) -> dict[str, str]:
        try:
            return parse_show_session(_run("show-session", sid, *(f"--property={p}" for p in _PROPS)))
        except (OSError, subprocess.SubprocessError):
            return {}

    def read(self) -> tuple[float, bool] | None:
        props = self._props(self._session) if self._session else {}
        if props.get("Active") != "yes":  # the session ended or another one took the seat
            if not self._find_session():
                return None
            props = self._props(self._session)
        return idle_from_props(props, time.time())

    def close(self) -> None:
        pass
