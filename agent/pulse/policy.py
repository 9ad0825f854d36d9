"""The employee pulse: which measured disruptions the employee is asked about, and when.

The runner offers every event it accepted (:meth:`Pulse.offer`). A question is
started only for a disruption over the bar (a crash of a catalogued
application, a hang or a connectivity loss of at least the configured
seconds) that the employee was at the device for (``active_s`` > 0; for an
instantaneous event such as a crash, activity in the minute before it), that
ended at most ``max_event_age_s`` ago, inside working hours, below the
per-day limit (a local calendar day, kept in ``pulse.json`` in the state
directory so a restart does not reset it) and while no other question is
open. Asking happens on a background thread in a short-lived child process
(``python -m agent.pulse.ask``) run as the user of the active graphical
session (agent/pulse/session.py): the agent never imports D-Bus, WinRT or
AppleScript code and never blocks. The child's answer becomes a ``Feedback``
record handed to ``on_feedback``; when nothing could be shown there is no
record, and the reason is counted (:attr:`Pulse.reasons`) and logged.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import agent
from agent.activity import ActivityTracker
from agent.catalogue import Catalogue
from agent.pulse import outcome, session
from agent.pulse.settings import PulseSettings
from agent.state import write_atomic
from agent.sensors.activity import in_working_hours
from contract.answers import ANSWER_NAMES
from contract.records import Event, Feedback

STATE_FILE = "pulse.json"
ACTIVE_LOOKBACK_S = 60.0  # an instantaneous event counts as active when the employee was active this long before it
CHILD_GRACE_S = 30.0  # the child may take this long beyond the answer time (start, D-Bus, closing)
# Why an offered event was not asked about (the child's own reasons are in agent.pulse.outcome.REASONS).
BELOW_BAR = "below the bar"
INACTIVE = "employee not active"
TOO_OLD = "disruption too old"
OUTSIDE_HOURS = "outside working hours"
DAILY_LIMIT = "daily limit reached"
QUESTION_OPEN = "a question is open"
FAILED = "asking failed"
NOTHING_SHOWN = (*session.REASONS, *outcome.REASONS)  # the day's question is given back for these only
KEPT_REASONS = (INACTIVE, TOO_OLD, OUTSIDE_HOURS, DAILY_LIMIT, QUESTION_OPEN, FAILED,
                *NOTHING_SHOWN)  # counted per day in the state file


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    return f"{seconds / 60:.0f} minutes"


def question(event: Event) -> dict:
    """The question about one event, as the ask child reads it (without its timeout)."""
    if event.type == "crash":
        title = f"{event.app} just closed unexpectedly"
    elif event.type == "hang":
        title = f"{event.app} stopped responding for {_minutes(event.duration_s)}"
    else:
        title = f"The network connection was lost for {_minutes(event.duration_s)}"
    return {"title": title, "body": "Did this cost you work?"}


class Pulse:
    """Decides whether to ask about an event, asks in a child process, and hands the answer on."""

    def __init__(self, settings: PulseSettings, catalogue: Catalogue, activity: ActivityTracker, state_dir: Path,
                 on_feedback: Callable[[Feedback], None], log: logging.Logger | None = None):
        self.settings = settings
        self.catalogue = catalogue
        self.activity = activity
        self.state_path = Path(state_dir) / STATE_FILE
        self.on_feedback = on_feedback
        self.log = log or logging.getLogger("hinder.agent")
        self.reasons: Counter[str] = Counter()  # why offered events were not asked about, since the start
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()  # the state file: read, changed, replaced
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen | None = None
        self._closed = False

    # ------------------------------------------------------------ the decision

    def over_bar(self, event: Event) -> bool:
        """Whether this disruption is significant enough to ask about."""
        s = self.settings
        if event.type not in s.types:
            return False
        if event.type == "crash":
            return any(app.name == event.app for app in self.catalogue.apps)
        if event.type == "hang":
            return event.duration_s >= s.hang_min_s
        return event.type == "connectivity_loss" and event.duration_s >= s.connectivity_loss_min_s

    def was_active(self, event: Event) -> bool:
        """Whether the employee was at the device during the disruption (just before it, for an instant one)."""
        if event.duration_s > 0:
            return bool(event.active_s)
        return self.activity.active_seconds(event.start - ACTIVE_LOOKBACK_S, event.start) > 0

    def offer(self, event: Event, now: float | None = None) -> str | None:
        """Consider one accepted event: start asking about it and return None, or return why not."""
        now = time.time() if now is None else now
        s = self.settings
        if not self.over_bar(event):
            return self._not_asked(BELOW_BAR, event, now)
        if now - (event.start + event.duration_s) > s.max_event_age_s:
            return self._not_asked(TOO_OLD, event, now)
        if not self.was_active(event):
            return self._not_asked(INACTIVE, event, now)
        if not in_working_hours(s.working_hours, s.working_days, now):
            return self._not_asked(OUTSIDE_HOURS, event, now)
        with self._lock:
            if self._closed or (self._thread and self._thread.is_alive()):
                return self._not_asked(QUESTION_OPEN, event, now)
            if self.asked_today(now) >= s.max_per_day:
                return self._not_asked(DAILY_LIMIT, event, now)
            self._keep(now, asked=+1)  # before asking: a restart while the question is open keeps the count
            self._thread = threading.Thread(target=self._ask, args=(event, now), name="pulse-ask", daemon=True)
            self._thread.start()
        return None

    def _not_asked(self, reason: str, event: Event, now: float) -> str:
        if reason != BELOW_BAR:  # every event that is no disruption to ask about: neither kept nor logged
            self._keep(now, reason=reason)
            self.log.info("pulse: not asking about %s %s: %s", event.type, event.id, reason)
        self.reasons[reason] += 1
        return reason

    # ------------------------------------------------------------ the day's count

    def asked_today(self, now: float) -> int:
        """Questions shown on the local calendar day of ``now``."""
        return read_day(self.state_path, now)["asked"]

    def _keep(self, now: float, asked: int = 0, reason: str | None = None) -> None:
        """Count a question (or give one back) and a reason for not asking in the state file's day of ``now``;
        nothing when the file already holds a later day (a question started before midnight ended after it)."""
        with self._state_lock:
            stored = _read_state(self.state_path).get("day")
            if isinstance(stored, str) and stored > _day(now):
                return
            day = read_day(self.state_path, now)
            day["asked"] = max(0, day["asked"] + asked)
            if reason:
                day["not_asked"][reason] = day["not_asked"].get(reason, 0) + 1
            try:
                write_atomic(self.state_path, json.dumps({"day": _day(now), **day}))
            except OSError as exc:
                self.log.warning("pulse: cannot keep the day's count in %s: %s", self.state_path, exc)

    # ------------------------------------------------------------ asking

    def _ask(self, event: Event, asked_at: float) -> None:
        try:
            answer = self._run_child(event)
        except Exception as exc:  # the pulse must never take the agent down
            self.log.warning("pulse: asking failed: %s: %s", type(exc).__name__, exc)
            answer = FAILED
        if self._closed:
            return  # the agent stops: the question was ended with it
        if answer not in ANSWER_NAMES:
            if answer in NOTHING_SHOWN:  # the day's question is still to come; not after FAILED (maybe shown)
                self._keep(asked_at, asked=-1)
            self._not_asked(answer, event, asked_at)
            return
        self.log.info("pulse: asked about %s %s: %s", event.type, event.id, answer)
        with self._lock:  # close() waits for this: no answer reaches a closed spool
            if not self._closed:
                self.on_feedback(Feedback(time=asked_at, event_id=event.id, answer=answer))

    def _run_child(self, event: Event) -> str:
        """Show the question in the session's child process: an answer name, or the reason nothing was shown."""
        where = session.find_session()
        if isinstance(where, str):
            return where
        cmd, options = child_command(where)
        q = {**question(event), "timeout_s": self.settings.answer_timeout_s}
        with self._lock:
            if self._closed:
                return FAILED
            self._child = child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE, **options)
        try:
            out, err = child.communicate(json.dumps(q).encode(), timeout=self.settings.answer_timeout_s
                                         + CHILD_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill(child)
            child.communicate()
            self.log.warning("pulse: the ask child did not finish in time; killed")
            return FAILED
        finally:
            self._child = None
        line = out.decode("utf-8", "replace").strip()
        if child.returncode == 0 and line in ANSWER_NAMES:
            return line
        if child.returncode == outcome.NOT_SHOWN and line in outcome.REASONS:
            self.log.debug("pulse: nothing shown: %s", err.decode("utf-8", "replace").strip()[-300:])
            return line
        self.log.warning("pulse: the ask child failed (status %s): %s", child.returncode,
                         err.decode("utf-8", "replace").strip()[-300:])
        return FAILED

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop asking: an open question's child is ended, its answer dropped, and its thread waited for."""
        with self._lock:
            self._closed = True
            child, thread = self._child, self._thread
        if child:
            _kill(child)
        if thread:
            thread.join(timeout_s)


def _kill(child: subprocess.Popen) -> None:
    """End the child and whatever it started: on POSIX its whole process group (macOS as root: launchctl asuser,
    sudo and the interpreter under them)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
    except OSError:
        pass  # already gone


def child_command(where: session.Session) -> tuple[list[str], dict]:
    """The ask child's command line and Popen options to run it in ``where``: as its user, with its environment."""
    root = str(Path(agent.__file__).resolve().parents[1])  # where the agent package is, for the child's imports
    path = os.environ.get("PYTHONPATH")
    env = {"PATH": os.environ.get("PATH", os.defpath), **where.env,
           "PYTHONPATH": root + (os.pathsep + path if path else "")}
    # cwd is the file system's root (and -P where Python has it): a package named "agent" in the user's home or the
    # agent's working directory cannot shadow ours on the child's sys.path
    options: dict = {"env": env, "cwd": os.path.abspath(os.sep)}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.CREATE_NO_WINDOW
    else:
        options["start_new_session"] = True  # its own process group, killed as a whole (_kill)
    python = [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-m", "agent.pulse.ask"]
    if where.prefix:  # sudo clears the environment: env(1) sets it again
        return [*where.prefix, "/usr/bin/env", *(f"{k}={v}" for k, v in env.items()), *python], options
    if hasattr(os, "geteuid") and os.geteuid() == 0 and where.uid != 0:
        options.update(user=where.uid, group=where.gid, extra_groups=[])
    return python, options


def read_day(state_path: Path, now: float) -> dict:
    """The state file's figures for the local calendar day of ``now``: questions shown (``asked``) and reasons for
    not asking (``not_asked``, reason -> count); zeros for another day or a file that cannot be read."""
    day = {"asked": 0, "not_asked": {}}
    state = _read_state(state_path)
    if state.get("day") != _day(now):
        return day
    if isinstance(state.get("asked"), int) and state["asked"] >= 0:
        day["asked"] = state["asked"]
    if isinstance(state.get("not_asked"), dict):
        day["not_asked"] = {k: v for k, v in state["not_asked"].items()
                            if k in KEPT_REASONS and isinstance(v, int) and v >= 0}
    return day


def _read_state(state_path: Path) -> dict:
    """The state file as a dict; empty when it cannot be read or is no JSON object."""
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts))
