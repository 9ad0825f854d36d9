"""Hangs on Linux/X11: application windows that stop answering _NET_WM_PING ("not responding").

EWMH defines a ping: a ClientMessage of type WM_PROTOCOLS with data.l[0] =
_NET_WM_PING, l[1] = a timestamp and l[2] = the window, sent to a client
window that lists _NET_WM_PING in its WM_PROTOCOLS; the client's event loop
must send it back to the root window at once. Window managers (mutter, KWin)
grey out a window and offer "Force quit" when the answer does not come
within about 5 s. This sensor sends the same ping itself on every poll and
reads the answers from the root window (SubstructureNotifyMask, which any
client may select), matching them by a timestamp of its own, unique per
ping, so the window manager's pings and ours never mix.

Windows come from the window manager's _NET_CLIENT_LIST, or on a display
without one from the root's viewable, non-override-redirect children. A
process is identified by its windows' _NET_WM_PID (windows without it, or of
clients on another host per WM_CLIENT_MACHINE, are ignored) and named by its
executable through the catalogue. A process whose ping has gone unanswered
for ``hang_threshold_s`` at a poll is hung; the hang lasts from that ping to
the poll that reads its answer, or that finds its windows or the process
gone, and is then sent as one ``hang`` event. Window titles and classes are
never read.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.sensors._helpers import procfs
from agent.sensors._helpers.hang_tracker import Stuck, hang_event
from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

if TYPE_CHECKING:
    from agent.sensors._helpers.x11 import Display

SOURCE = "x11_ping"
_REOPEN_S = 60.0  # how often a lost or missing display is looked for again
_ATOMS = ("WM_PROTOCOLS", "_NET_WM_PING", "_NET_WM_PID", "_NET_CLIENT_LIST", "WM_CLIENT_MACHINE")
_STAMP_LIMIT = 1 << 31  # l[1] travels as 32 bits and comes back sign-extended: stay positive


@dataclass
class HangX11Config(SensorConfig):
    interval_s: float = setting(2.0, min=1, max=60, doc="how often windows are pinged and their answers read")
    hang_threshold_s: float = setting(5.0, min=1, max=3600,
                                      doc="a ping unanswered this long means not responding (catalogued apps: at "
                                          "least their own hang_threshold_s)")
    display: str = setting("", doc="X display to watch (default: $DISPLAY)")


@dataclass
class _Client:
    """One X client process whose windows take pings."""

    stuck: Stuck
    windows: set[int]
    stamps: set[int] = field(default_factory=set)
    pinged_at: float | None = None  # when the ping still unanswered was sent
    hung: bool = False


class HangX11Sensor(Sensor):
    """Applications whose X11 windows do not answer the window manager's ping."""

    name = "hang_x11"
    Config = HangX11Config
    platforms = ("linux",)
    explain = (
        "Every few seconds sends the application windows on your X11 screen the standard 'are you responding?' "
        "message (_NET_WM_PING) that the desktop itself uses, and notes whether each program answers. Sends a "
        "'hang' when one did not answer for several seconds, once it answers again or is closed: program name and "
        "the version of the package that installed it, process id, how long. Never window titles or contents."
    )

    @classmethod
    def unavailable(cls, config: HangX11Config) -> str | None:
        why = super().unavailable(config)
        if why:
            return why
        from agent.sensors._helpers.x11 import display_problem  # ctypes and Xlib: only where there is a display

        return display_problem(config.display or os.environ.get("DISPLAY", ""))

    def start(self) -> None:
        self._display: Display | None = None
        self._clients: dict[int, _Client] = {}  # pid -> client
        self._window_pid: dict[int, int | None] = {}  # window -> pid, None when it cannot be pinged
        self._stamps: dict[int, int] = {}  # unanswered ping stamp -> pid
        self._next_stamp = random.randrange(1, _STAMP_LIMIT)
        self._connect(time.time())

    def _connect(self, now: float) -> None:
        from agent.sensors._helpers.x11 import Display, X11Unavailable

        self._retry_at = now + _REOPEN_S
        try:
            display = Display.open(self.config.display or os.environ.get("DISPLAY", ""))
        except X11Unavailable as exc:
            self.ctx.log.warning("hang_x11: %s; trying again in %.0f s", exc, _REOPEN_S)
            return
        self._atoms = display.atoms(_ATOMS)
        display.watch_root_children()  # the answers come back to the root window
        self._display = display

    def poll(self) -> list[Event]:
        now = time.time()
        if self._display and self._display.dead:
            return self._lost(now)
        if self._display is None:
            if now >= self._retry_at:
                self._connect(now)
            return []
        d = self._display
        events = self._read_answers(now)
        windows = {} if d.dead else self._pingable_windows()
        if d.dead:
            return events  # lost during this poll: its hangs end at the next one (_lost)
        events += self._scan(now, windows)
        self._ping(now)
        d.flush()
        self.ctx.heartbeat_details["hang_x11_windows"] = sum(len(c.windows) for c in self._clients.values())
        return events

    def close(self) -> list[Event]:
        now = time.time()
        events = [self._end(pid, c, now, "agent_stopped", open_at_stop=True) for pid, c in self._clients.items()
                  if c.hung]
        if self._display:
            self._display.close()
        self._display = None
        return events

    def _end(self, pid: int, client: _Client, now: float, ended: str, **extra) -> Event:
        return hang_event(SOURCE, pid, client.stuck, client.pinged_at, now - client.pinged_at, ended, **extra)

    def _lost(self, now: float) -> list[Event]:
        """The display went away (session ended, server died): its windows are gone with it."""
        events = [self._end(pid, c, now, "exited" if procfs.exiting(pid) else "closed")
                  for pid, c in self._clients.items() if c.hung]
        self._display.close()
        self._display = None
        self._retry_at = now + _REOPEN_S
        self._clients, self._window_pid, self._stamps = {}, {}, {}
        return events

    def _read_answers(self, now: float) -> list[Event]:
        """Drain the event queue; a process that answered any of its pings is responding now."""
        events = []
        for values in self._display.client_messages(self._atoms["WM_PROTOCOLS"]):
            if values[0] != self._atoms["_NET_WM_PING"]:
                continue
            pid = self._stamps.get(values[1])
            client = self._clients.get(pid)
            if client is None:
                continue
            if client.hung:
                events.append(self._end(pid, client, now, "responding"))
            self._forget_pings(client)
        return events

    def _forget_pings(self, client: _Client) -> None:
        for stamp in client.stamps:
            self._stamps.pop(stamp, None)
        client.stamps.clear()
        client.pinged_at, client.hung = None, False

    def _scan(self, now: float, windows: dict[int, int]) -> list[Event]:
        """Update the processes with pingable windows; end the hangs of those whose windows are gone."""
        by_pid: dict[int, set[int]] = {}
        for window, pid in windows.items():
            by_pid.setdefault(pid, set()).add(window)
        events = []
        for pid in [p for p in self._clients if p not in by_pid]:
            client = self._clients.pop(pid)
            if client.hung:
                events.append(self._end(pid, client, now, "exited" if procfs.exiting(pid) else "closed"))
            self._forget_pings(client)
        for pid, windows in by_pid.items():
            if pid not in self._clients:
                path = procfs.read_exe_path(pid)
                exe = procfs.exe_name(path) or procfs.read_comm(pid)
                if not exe:
                    continue  # gone, or not ours to read
                app = self.ctx.catalogue.lookup(exe)
                threshold = max(self.config.hang_threshold_s, app.hang_threshold_s) if app \
                    else self.config.hang_threshold_s
                self._clients[pid] = _Client(Stuck(app.name if app else exe, exe, threshold, path), windows)
            self._clients[pid].windows = windows
        return events

    def _ping(self, now: float) -> None:
        """Ping every process without an unanswered ping; mark those unanswered beyond their threshold hung."""
        d = self._display
        for pid, client in self._clients.items():
            if client.pinged_at is not None:
                client.hung = client.hung or now - client.pinged_at >= client.stuck.threshold_s
                continue
            client.pinged_at = now
            for window in client.windows:
                stamp = self._next_stamp
                self._next_stamp = stamp % (_STAMP_LIMIT - 1) + 1
                self._stamps[stamp] = pid
                client.stamps.add(stamp)
                d.send_client_message(window, self._atoms["WM_PROTOCOLS"], (self._atoms["_NET_WM_PING"], stamp, window))

    def _pingable_windows(self) -> dict[int, int]:
        """window -> pid of the top-level client windows that take _NET_WM_PING."""
        listed = self._property(self._display.root, "_NET_CLIENT_LIST")
        listed = set(listed) if listed is not None else self._display.viewable_top_levels()
        for window in [w for w in self._window_pid if w not in listed]:
            del self._window_pid[window]
        for window in listed - self._window_pid.keys():
            self._window_pid[window] = self._ping_pid(window)
        return {w: pid for w, pid in self._window_pid.items() if pid}

    def _ping_pid(self, window: int) -> int | None:
        """The local process id behind a window that takes pings, else None."""
        if self._atoms["_NET_WM_PING"] not in (self._property(window, "WM_PROTOCOLS") or ()):
            return None
        return self._display.local_pid(window, self._atoms)  # None: unknown, or a pid on another host

    def _property(self, window: int, name: str):
        return self._display.property(window, self._atoms[name])

    @classmethod
    def examples(cls):
        return [Event(type="hang", app="LibreOffice", start=time.time() - 40, duration_s=27.0, severity="error",
                      details={"source": SOURCE, "exe": "soffice.bin", "pid": 5120, "threshold_s": 5.0,
                               "ended": "responding", "app_version": "4:7.4.7-1+deb12u5"})]
