"""Remote-support sessions: time the employee spent being helped through a remote-support tool.

Most remote-support tools keep a background service running all day and start
a separate process, or the same program with a distinctive argument, only
while a technician is connected (RustDesk's ``--cm`` connection manager,
AnyDesk's ``--backend``, Chrome Remote Desktop's ``remoting_desktop``), or run
at all only while the employee asks for help (Quick Assist, TeamViewer
QuickSupport, Splashtop SOS). :data:`SIGNATURES` lists, per tool and OS, the
process name (a case-insensitive glob) and the optional argument pattern that
mark such an active session; a service on its own never matches.
docs/sensors.md cites the public source of every row and names the tools
whose sessions cannot be told apart from their service. Administrators add
their own tools with ``[[sensors.remote_support.tools]]``.

Every poll lists the processes by name only (on Linux one read of
``/proc/PID/comm`` each), reads the arguments of the few whose name matches a
signature, and keeps one session per tool open while a matching process
lives. It starts when the oldest matching process started (or the agent,
if later: an agent stopped mid-session has sent the part before) and ends at the
first poll that no longer sees one; a session shorter than ``min_session_s``
is dropped. The ``support_session`` event carries the tool's name and the
signature that matched, never a command line, a peer id or a window title;
``active_s`` is the employee's active time inside it (agent/activity.py).

The installed TeamViewer has no such process (its helpers run outside
sessions too), but it appends a line to ``Connections_incoming.txt`` when an
incoming session ends: the sensor follows that file (``teamviewer_logs``),
from its end at first sight, and sends each new session with its start and
end (parse_teamviewer.py), keeping its read position in the state directory.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
import time
from dataclasses import dataclass

import psutil

from agent.sensors._helpers import parse_teamviewer, procfs
from agent.sensors.base import Sensor, SensorConfig
from contract.records import MAX_DURATION_S, MAX_LABEL_LEN, Event
from contract.settings import setting

EVENT_TYPE = "support_session"
MAX_TOOLS = 32  # administrator-added tools
MAX_LOG_READ = 256 * 1024  # bytes of a session log read in one poll
TEAMVIEWER = "TeamViewer"
TEAMVIEWER_LOG = "Connections_incoming.txt"
_COMM_LEN = 15  # Linux keeps at most 15 characters of a process name in /proc/PID/comm
_STARTING_S = 5.0  # a process this young without readable arguments is still being started (execve)


@dataclass(frozen=True)
class Signature:
    """What marks one tool's active session on some OSes: a process name glob and an optional argument pattern."""

    tool: str
    process: str  # glob, matched case-insensitively against the process name
    args: str = ""  # regular expression searched (case-insensitively) in the space-joined arguments; "" = any
    platforms: tuple[str, ...] = ("linux", "win32", "darwin")
    shows: str = ""  # how ``label`` writes it, where the pattern itself is hard to read

    @property
    def label(self) -> str:
        """What matched, as the event's ``details.signature`` says it (the signature, never the command line)."""
        return self.shows or f"{self.process} {self.args}".strip()


def _arg(pattern: str, shows: str) -> dict:
    """The ``args`` of a signature requiring one whole argument, and how it is shown."""
    return {"args": rf"(?:^|\s){pattern}(?:\s|$)", "shows": shows}


# Sources per row: docs/sensors.md ("remote_support"). A tool's always-running service is never a row.
SIGNATURES: tuple[Signature, ...] = (
    Signature("Quick Assist", "quickassist.exe", platforms=("win32",)),
    Signature("TeamViewer QuickSupport", "teamviewerqs*.exe", platforms=("win32",)),
    Signature("AnyDesk", "anydesk*.exe", platforms=("win32",), **_arg("--backend", "anydesk.exe --backend")),
    Signature("RustDesk", "rustdesk.exe", platforms=("win32",), **_arg("--cm(?:-no-ui)?", "rustdesk.exe --cm")),
    Signature("RustDesk", "rustdesk", platforms=("linux", "darwin"), **_arg("--cm(?:-no-ui)?", "rustdesk --cm")),
    Signature("Chrome Remote Desktop", "remoting_desktop.exe", platforms=("win32",)),
    Signature("Chrome Remote Desktop", "remoting_host.exe", platforms=("win32",),
              **_arg("--type=desktop", "remoting_host.exe --type=desktop")),
    Signature("Chrome Remote Desktop", "remote_assistance_host.exe", platforms=("win32",)),
    Signature("Chrome Remote Desktop", "remote-assistance-host", platforms=("linux",)),
    Signature("Splashtop SOS", "srserversos.exe", platforms=("win32",)),
    Signature("ConnectWise ScreenConnect", "screenconnect.clientservice.exe", r"[?&]e=support(?:&|\s|$)",
              platforms=("win32",), shows="screenconnect.clientservice.exe e=Support"),
)


@dataclass
class ToolConfig:
    """A remote-support tool an administrator adds: ``[[sensors.remote_support.tools]]``."""

    name: str = setting(doc="the tool's name, sent as the event's app")
    process: str = setting(doc="process name of its session (case-insensitive glob, e.g. 'helpdesk-session*.exe')")
    args: str = setting("", doc="regular expression the process's arguments must contain; empty: any arguments")

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= MAX_LABEL_LEN or not self.name.isprintable():
            raise ValueError(f"name: {self.name!r} must be 1 to {MAX_LABEL_LEN} printable characters")
        if not 0 < len(self.process) <= 255 or not self.process.isprintable():
            raise ValueError(f"process: {self.process!r} must be 1 to 255 printable characters")
        if len(self.args) > 255:
            raise ValueError("args: at most 255 characters")
        try:
            re.compile(self.args)
        except re.error as exc:
            raise ValueError(f"args: {self.args!r} is not a regular expression: {exc}") from None


@dataclass
class RemoteSupportConfig(SensorConfig):
    interval_s: float = setting(10.0, min=1, max=300, doc="seconds between two looks at the process list")
    min_session_s: float = setting(30.0, min=0, max=3600, doc="sessions shorter than this are not reported")
    tools: list[ToolConfig] = setting(default_factory=list, doc="tools to watch besides the built-in table")
    teamviewer_logs: list[str] = setting(
        default_factory=lambda: _default_teamviewer_logs(sys.platform),
        doc=f"TeamViewer's {TEAMVIEWER_LOG} files to follow (default on Windows: in both Program Files folders)")

    def __post_init__(self) -> None:
        if len(self.tools) > MAX_TOOLS:
            raise ValueError(f"tools: at most {MAX_TOOLS} tools")
        if len(self.teamviewer_logs) > 4:
            raise ValueError("teamviewer_logs: at most 4 files")


def _default_teamviewer_logs(platform: str) -> list[str]:
    if not platform.startswith("win32"):
        return []
    return [rf"C:\{folder}\TeamViewer\{TEAMVIEWER_LOG}" for folder in ("Program Files", "Program Files (x86)")]


def signatures_for(platform: str, tools: list[ToolConfig] = ()) -> list[Signature]:
    """The built-in signatures of ``platform`` (a ``sys.platform`` value) and the administrator's tools."""
    own = [s for s in SIGNATURES if any(platform.startswith(p) for p in s.platforms)]
    return own + [Signature(t.name, t.process, t.args) for t in tools]


class Matcher:
    """Tells which signature, if any, a process (name, arguments) matches; names first, so most need no arguments."""

    def __init__(self, signatures: list[Signature]):
        self.signatures = signatures
        self._names = [re.compile(fnmatch.translate(s.process.lower())) for s in signatures]
        self._args = [re.compile(s.args, re.IGNORECASE) if s.args else None for s in signatures]
        self._any = re.compile("|".join(f"(?:{p.pattern})" for p in self._names)) if signatures else None

    def candidate(self, name: str) -> bool:
        """Whether some signature's process glob matches this process name."""
        return bool(self._any and self._any.match(name.lower()))

    def match(self, name: str, args: list[str]) -> Signature | None:
        """The first signature matching the process name and its arguments (without the program itself)."""
        low, joined = name.lower(), " ".join(args)
        for sig, name_re, args_re in zip(self.signatures, self._names, self._args):
            if name_re.match(low) and (args_re is None or args_re.search(joined)):
                return sig
        return None


@dataclass
class _Session:
    signature: Signature
    start: float


class RemoteSupportSensor(Sensor):
    """Active sessions of remote-support tools, from the process list."""

    name = "remote_support"
    Config = RemoteSupportConfig
    explain = ("Every few seconds looks at the names of running programs for a remote-support session (a technician "
               "connected through one of the tools listed below), and at the times of the sessions TeamViewer lists "
               "in its log of incoming connections. Sends, when the session ends, the tool's name, "
               "when it started, how long it lasted and how much of it you were active at the computer. Never the "
               "technician's or your name, the session id, the program's command line or what was on the screen.")

    def start(self) -> None:
        self._matcher = Matcher(signatures_for(sys.platform, self.config.tools))
        # pid -> (its name, its start time, the signature it matched): a process's arguments are read once
        self._seen: dict[int, tuple[str, float, Signature | None]] = {}
        self._open: dict[str, _Session] = {}  # tool -> its open session
        self._started = time.time()
        self._state = self.ctx.state_path("remote_support.json")
        self._offsets = self._load_offsets()  # TeamViewer log -> bytes already read
        self._save_offsets()

    def _load_offsets(self) -> dict[str, int]:
        """Where each session log was read up to; a log first seen now is history up to its current end."""
        try:
            saved = json.loads(self._state.read_text(encoding="utf-8"))
        except FileNotFoundError:
            saved = {}
        except (OSError, ValueError) as exc:
            self.ctx.log.warning("%s is unreadable (%s); the session logs are read from their current end",
                                 self._state, exc)
            saved = {}
        offsets = {}
        for path in self.config.teamviewer_logs:
            known = saved.get(path) if isinstance(saved, dict) else None
            offsets[path] = known if isinstance(known, int) and known >= 0 else _size(path)
        return offsets

    @classmethod
    def watching(cls, config: RemoteSupportConfig) -> list[str]:
        return ([f"{s.tool}: {s.label}" for s in signatures_for(sys.platform, config.tools)]
                + [f"{TEAMVIEWER}: the session times in {path}" for path in config.teamviewer_logs])

    def poll(self) -> list[Event]:
        now = time.time()
        active = self._scan()
        events = []
        for tool, session in list(self._open.items()):
            if tool not in active:
                del self._open[tool]
                events += self._event(tool, session.signature.label, session.start, now)
        for tool, (signature, start) in active.items():
            # no earlier than this agent's start: an agent restarted mid-session sent the part before (open_at_stop)
            self._open.setdefault(tool, _Session(signature, min(max(start, self._started), now)))
        return events + self._read_logs(now)

    def _read_logs(self, now: float) -> list[Event]:
        """The sessions TeamViewer wrote to its logs since the last poll (it writes a line when one ends)."""
        events, before = [], dict(self._offsets)
        for path, offset in before.items():
            lines, self._offsets[path] = _new_lines(path, offset)
            for line in lines:
                times = parse_teamviewer.session_times(line)
                if times and times[1] <= now + 60:  # a session that ends in the future is a bad clock: skip it
                    start, end, kind = times
                    events += self._event(TEAMVIEWER, TEAMVIEWER_LOG, start, end, connection_type=kind)
        if self._offsets != before:
            self._save_offsets()
        return events

    def _save_offsets(self) -> None:
        if not self._offsets:
            return
        try:
            self._state.write_text(json.dumps(self._offsets), encoding="utf-8")
        except OSError as exc:  # after a restart, the logs are then read from their end: sessions may be missed
            self.ctx.log.warning("cannot keep the session logs' read positions in %s: %s", self._state, exc)

    def close(self) -> list[Event]:
        now = time.time()
        events = [ev for tool, s in self._open.items()
                  for ev in self._event(tool, s.signature.label, s.start, now, open_at_stop=True)]
        self._open.clear()
        return events

    def _scan(self) -> dict[str, tuple[Signature, float]]:
        """Tool -> (the signature matched, when its oldest matching process started), for every tool in session."""
        live = set()
        active: dict[str, tuple[Signature, float]] = {}
        for pid, name in _process_names():
            if not self._matcher.candidate(name) and not (len(name) == _COMM_LEN and sys.platform == "linux"):
                continue
            live.add(pid)
            if pid not in self._seen or self._seen[pid][0] != name:  # new, or its pid reused by another program
                identified = self._identify(pid, name)
                if identified is None:  # still being started: looked at again at the next poll
                    continue
                self._seen[pid] = (name, *identified)
            _, start, signature = self._seen[pid]
            if signature and not (sys.platform == "linux" and procfs.exiting(pid)):  # a zombie's session is over
                known = active.get(signature.tool)
                active[signature.tool] = (signature, min(start, known[1]) if known else start)
        for pid in self._seen.keys() - live:
            del self._seen[pid]
        return active

    def _identify(self, pid: int, name: str) -> tuple[float, Signature | None] | None:
        """The process's start time and the signature it matches (its arguments read once, here); None while it
        is being started (Linux gives a program its name before its arguments can be read)."""
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
            started = procfs.started(proc)
        except psutil.Error:
            return 0.0, None
        if not cmdline and time.time() - started < _STARTING_S:
            return None
        if len(name) == _COMM_LEN and cmdline:  # a truncated Linux name: the program's own name is argv[0]'s
            name = cmdline[0].replace("\\", "/").rsplit("/", 1)[-1]
        return started, self._matcher.match(name, cmdline[1:])

    def _event(self, tool: str, signature: str, start: float, end: float, **details) -> list[Event]:
        """The session's event, or none if it is shorter than the minimum."""
        duration = min(max(0.0, end - start), MAX_DURATION_S)
        if duration < self.config.min_session_s:
            return []
        return [Event(type=EVENT_TYPE, app=tool, start=start, duration_s=round(duration, 3),
                      active_s=round(self.ctx.activity.active_seconds(start, start + duration), 3),
                      severity="info", details={"tool": tool, "signature": signature, **details})]

    @classmethod
    def examples(cls) -> list[Event]:
        return [Event(type=EVENT_TYPE, app="Quick Assist", start=time.time() - 1500, duration_s=1260.0,
                      active_s=1180.0, severity="info",
                      details={"tool": "Quick Assist", "signature": "quickassist.exe"})]


def _process_names():
    """(pid, name) of every process: on Linux the kernel's name (at most 15 characters), elsewhere psutil's."""
    if sys.platform == "linux":
        for pid in procfs.pids():
            name = procfs.read_comm(pid)
            if name:
                yield pid, name
        return
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"]:
            yield proc.pid, proc.info["name"]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0  # not there (yet): everything it will hold is new


def _new_lines(path: str, offset: int) -> tuple[list[str], int]:
    """The complete lines appended to ``path`` after ``offset`` (at most MAX_LOG_READ bytes), and the new offset."""
    size = _size(path)
    if size < offset:  # the file was replaced or emptied: read it from its start
        offset = 0
    if size == offset:
        return [], offset
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(MAX_LOG_READ)
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    if end == 0:  # no complete line: wait for the rest, unless it cannot fit in one read (then skip it)
        return [], offset + (len(chunk) if len(chunk) == MAX_LOG_READ else 0)
    return chunk[:end].decode("utf-8", "replace").splitlines(), offset + end
