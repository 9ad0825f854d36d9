"""Where a question can be shown: the active graphical session, its user and the environment to reach it.

Linux (docs/pulse.md, "Session discovery"): the agent's own session when its
environment names a session bus (an agent started in the session; locked when
logind says so of ``XDG_SESSION_ID``); else systemd-logind's active session of
class ``user`` (``loginctl``), an ``x11`` or ``wayland`` one first: its user,
its lock state (``LockedHint``), its X display (``Display``); the session bus
is the user's bus at ``/run/user/UID/bus`` (systemd's user bus, every current
distribution) or else the ``DBUS_SESSION_BUS_ADDRESS`` in the environment of
one of that session's processes (its cgroup is ``session-ID.scope``), which
also gives ``XAUTHORITY``. Windows and macOS: the agent's own session (a
per-user agent); none on Windows for an agent in session 0 (a service: no
desktop to show a toast on); macOS as root: the console user, through
``launchctl asuser``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.sensors._helpers.console_macos import console_uid
from agent.sensors._helpers.focus_windows import current_session, session_problem
from agent.sensors._helpers.idle_logind import parse_show_session

NO_SESSION = "no graphical session"
LOCKED = "session locked"
OTHER_USER = "the session is another user's"
SERVICE_SESSION = "the agent runs as a service"  # Windows session 0
REASONS = (NO_SESSION, LOCKED, OTHER_USER, SERVICE_SESSION)
_PROPS = ("Id", "User", "Class", "Active", "Type", "Display", "LockedHint")
# What the child's environment keeps of a session's: the display and bus (Linux), what Windows PowerShell needs
# (Windows); never the agent's own settings or credentials (HINDER_*, proxies).
_PASSED = ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "LANG",
           "SYSTEMROOT", "WINDIR", "TEMP", "TMP", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "PROGRAMDATA",
           "COMSPEC", "PATHEXT", "HOMEDRIVE", "HOMEPATH", "PSMODULEPATH")
_MAX_ENVIRON = 1 << 20  # bytes read from one /proc/PID/environ


@dataclass
class Session:
    """A session to show a question in: its user and what the child's environment needs."""

    uid: int
    gid: int
    env: dict[str, str] = field(default_factory=dict)
    prefix: list[str] = field(default_factory=list)  # run the child through this, as root (macOS: launchctl asuser)


def find_session() -> Session | str:
    """The session to ask in, or why there is none (one of REASONS)."""
    if sys.platform.startswith("linux"):
        if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            found = LOCKED if _locked(os.environ.get("XDG_SESSION_ID", "")) else _own_session()
        else:
            found = _logind_session() or NO_SESSION
    elif sys.platform == "darwin" and os.geteuid() == 0:
        found = _console_user()
    elif sys.platform == "win32":
        found = windows_session(current_session())
    else:
        found = _own_session()
    if isinstance(found, Session) and hasattr(os, "geteuid") and os.geteuid() not in (0, found.uid):
        return OTHER_USER
    return found


def _own_session() -> Session:
    """The agent's own session, when it runs inside one (a per-user agent, a desktop autostart)."""
    env = {k: v for k, v in os.environ.items() if k.upper() in _PASSED and v}
    return Session(os.getuid() if hasattr(os, "getuid") else 0, os.getgid() if hasattr(os, "getgid") else 0, env)


def windows_session(session_id: int) -> Session | str:
    """The agent's own Windows session, or SERVICE_SESSION in session 0, where services run and nothing is shown."""
    return SERVICE_SESSION if session_problem(session_id) else _own_session()


def _loginctl(*args: str) -> str:
    return subprocess.run(["loginctl", *args], capture_output=True, text=True, timeout=10).stdout


def _locked(session_id: str) -> bool:
    """Whether logind says session ``session_id`` is locked (False when it cannot tell)."""
    if not session_id or not shutil.which("loginctl"):
        return False
    try:
        return parse_show_session(_loginctl("show-session", session_id, "--property=LockedHint")).get(
            "LockedHint") == "yes"
    except (OSError, subprocess.SubprocessError):
        return False


def pick_session(sessions: list[dict[str, str]]) -> dict[str, str] | None:
    """The active user session among logind's, an x11 or wayland one first."""
    active = [s for s in sessions if s.get("Class") == "user" and s.get("Active") == "yes"]
    active.sort(key=lambda s: s.get("Type") not in ("x11", "wayland"))
    return active[0] if active else None


def _logind_session() -> Session | str | None:
    """The active logind session, or None when logind cannot be asked (no systemd)."""
    if not shutil.which("loginctl"):
        return None
    try:
        ids = [line.split()[0] for line in _loginctl("list-sessions", "--no-legend").splitlines() if line.strip()]
        sessions = [parse_show_session(_loginctl("show-session", sid, *(f"--property={p}" for p in _PROPS)))
                    for sid in ids]
    except (OSError, subprocess.SubprocessError):
        return None
    if not ids:
        return None
    props = pick_session(sessions)
    if props is None:
        return NO_SESSION
    if props.get("LockedHint") == "yes":
        return LOCKED
    import pwd  # POSIX only

    try:
        user = pwd.getpwuid(int(props["User"]))
    except (KeyError, ValueError):
        return NO_SESSION
    env = session_environ(props.get("Id", ""), user.pw_uid)
    env = {k: v for k, v in env.items() if k in _PASSED}
    bus = Path(f"/run/user/{user.pw_uid}/bus")
    if bus.exists():
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={bus}"
    if props.get("Display"):
        env["DISPLAY"] = props["Display"]
    if "DBUS_SESSION_BUS_ADDRESS" not in env:
        return NO_SESSION
    env.setdefault("XDG_RUNTIME_DIR", f"/run/user/{user.pw_uid}")
    return Session(user.pw_uid, user.pw_gid, {**env, "HOME": user.pw_dir, "USER": user.pw_name})


def session_environ(session_id: str, uid: int, proc: Path = Path("/proc")) -> dict[str, str]:
    """The environment of a process of logind session ``session_id`` owned by ``uid`` that names a session bus."""
    if not session_id:
        return {}
    scope = f"/session-{session_id}.scope"
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            if pid_dir.stat().st_uid != uid or scope not in (pid_dir / "cgroup").read_text():
                continue
            with open(pid_dir / "environ", "rb") as fh:
                raw = fh.read(_MAX_ENVIRON)
        except OSError:
            continue  # gone, or not ours to read
        env = parse_environ(raw)
        if env.get("DBUS_SESSION_BUS_ADDRESS"):
            return env
    return {}


def parse_environ(raw: bytes) -> dict[str, str]:
    """``/proc/PID/environ`` (NUL-separated NAME=value) as a dict."""
    pairs = (item.decode("utf-8", "replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    return dict(pairs)


def _console_user() -> Session | str:
    """macOS as root: the user logged in at the console (the owner of /dev/console), reached by launchctl asuser."""
    import pwd

    uid = console_uid()
    try:
        user = pwd.getpwuid(uid) if uid is not None else None
    except KeyError:
        user = None
    if user is None:
        return NO_SESSION  # the login window, or no console
    return Session(uid, user.pw_gid, {"HOME": user.pw_dir, "USER": user.pw_name},
                   prefix=["launchctl", "asuser", str(uid), "sudo", "-u", user.pw_name, "--"])
