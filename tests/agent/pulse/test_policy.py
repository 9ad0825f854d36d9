"""The pulse's policy: the bar, the limits, and asking through the real child under Xvfb with dunst."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from agent.activity import ActivityTracker
from agent.catalogue import App, Catalogue
from agent.pulse import outcome, policy, session
from agent.pulse.policy import Pulse
from agent.pulse.settings import PulseSettings
from agent.sensors.activity import DAYS
from contract.check import validate_batch
from contract.records import Event, make_batch
from tests.conftest import wait_until


def make_pulse(state_dir, answers: list, active: bool = True, **settings) -> Pulse:
    """A pulse asking at any hour about the catalogued app Crasher, the employee active for the last two minutes."""
    activity = ActivityTracker()
    now = time.time()
    if active:
        activity.mark_active(now - 120, now + 60)
    config = PulseSettings(**{"enabled": True, "working_hours": "00:00-24:00", "working_days": list(DAYS),
                              **settings})
    return Pulse(config, Catalogue([App("Crasher", executables=["crasher"])]), activity, state_dir, answers.append)


def crash(app: str = "Crasher", ago_s: float = 1.0) -> Event:
    return Event(type="crash", app=app, start=time.time() - ago_s, details={"signal": "SIGSEGV"})


@pytest.fixture
def in_session(clean_desktop, monkeypatch):
    """The agent's environment is the desktop's session (as an agent started in the session)."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", clean_desktop.bus)
    monkeypatch.setenv("DISPLAY", clean_desktop.display)
    monkeypatch.delenv("XDG_SESSION_ID", raising=False)
    return clean_desktop


def answer_displayed(desktop, answers: list, key: str) -> None:
    before = len(answers)
    wait_until(lambda: desktop.displayed() == 1, 10, what="the pulse's notification")
    desktop.invoke(key)
    wait_until(lambda: len(answers) > before, 10, what="the answer")


def test_a_crash_of_a_catalogued_app_is_asked_and_the_answer_becomes_feedback(in_session, tmp_path):
    answers = []
    pulse = make_pulse(tmp_path, answers)
    event = crash()
    before = time.time()
    assert pulse.offer(event) is None
    answer_displayed(in_session, answers, "over_15_minutes")
    (feedback,) = answers
    assert (feedback.event_id, feedback.answer) == (event.id, "over_15_minutes")
    assert before <= feedback.time <= time.time()
    validate_batch(make_batch("device-0001", [], [], feedback=[feedback.to_wire()]))
    assert "Crasher just closed unexpectedly" in in_session.menu()[0]


def test_the_daily_limit_holds_across_a_restart(in_session, tmp_path):
    answers = []
    first = make_pulse(tmp_path, answers)
    assert first.offer(crash()) is None
    answer_displayed(in_session, answers, "none")
    restarted = make_pulse(tmp_path, answers)
    assert restarted.offer(crash()) == policy.DAILY_LIMIT
    assert in_session.displayed() == 0 and len(answers) == 1
    assert restarted.asked_today(time.time()) == 1 and restarted.asked_today(time.time() + 86400) == 0
    more = make_pulse(tmp_path, answers, max_per_day=2)
    assert more.offer(crash()) is None
    answer_displayed(in_session, answers, "few_minutes")
    assert [a.answer for a in answers] == ["none", "few_minutes"]


def test_paused_dunst_asks_nothing_and_gives_the_day_back(in_session, tmp_path):
    in_session.dunstctl("set-paused", "true")
    answers = []
    pulse = make_pulse(tmp_path, answers)
    assert pulse.offer(crash()) is None  # the child finds out
    wait_until(lambda: pulse.reasons[outcome.DO_NOT_DISTURB] == 1, 10, what="the child's reason")
    assert answers == []
    assert pulse.asked_today(time.time()) == 0 and in_session.dunstctl("count", "waiting") == "0"
    assert policy.read_day(tmp_path / policy.STATE_FILE, time.time())["not_asked"] == {outcome.DO_NOT_DISTURB: 1}


def test_one_question_at_a_time(in_session, tmp_path):
    answers = []
    pulse = make_pulse(tmp_path, answers, max_per_day=5)
    assert pulse.offer(crash()) is None
    assert pulse.offer(crash()) == policy.QUESTION_OPEN
    answer_displayed(in_session, answers, "lost_work")
    assert [a.answer for a in answers] == ["lost_work"]


def test_a_closed_pulse_ends_the_open_question_and_sends_nothing(in_session, tmp_path):
    answers = []
    pulse = make_pulse(tmp_path, answers)
    assert pulse.offer(crash()) is None
    wait_until(lambda: in_session.displayed() == 1, 10, what="the pulse's notification")
    pulse.close()  # ends the child and waits for the question's thread
    assert answers == [] and not pulse.reasons
    assert pulse.offer(crash()) == policy.QUESTION_OPEN


def test_without_a_session_nothing_is_asked(desktop, tmp_path, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    if not isinstance(session._logind_session() or session.NO_SESSION, str):
        pytest.skip("this machine has an active logind session: the pulse would ask there")
    answers = []
    pulse = make_pulse(tmp_path, answers)
    assert pulse.offer(crash()) is None
    wait_until(lambda: pulse.reasons[session.NO_SESSION] == 1, 10, what="no session")
    assert answers == []
    assert pulse.asked_today(time.time()) == 0


def _not_today() -> list[str]:
    return [d for d in DAYS if d != DAYS[time.localtime().tm_wday]]


_COLLECTED = time.time()  # the parameters' events are made when the module is collected, minutes before a test runs


@pytest.mark.parametrize("event, settings, active, reason", [
    (crash("firefox"), {}, True, policy.BELOW_BAR),  # not catalogued
    (crash(), {"types": ["hang"]}, True, policy.BELOW_BAR),
    (Event(type="hang", app="Crasher", start=time.time() - 40, duration_s=29.0, active_s=29.0), {}, True,
     policy.BELOW_BAR),
    (Event(type="connectivity_loss", app="collector", start=time.time() - 200, duration_s=120.0, active_s=120.0),
     {}, True, policy.BELOW_BAR),
    (Event(type="slow_app", app="Crasher", start=time.time() - 40, duration_s=30.0, active_s=30.0), {}, True,
     policy.BELOW_BAR),
    (crash(), {}, False, policy.INACTIVE),
    (Event(type="hang", app="Crasher", start=time.time() - 100, duration_s=60.0, active_s=0.0), {}, True,
     policy.INACTIVE),
    (crash(ago_s=700), {}, True, policy.TOO_OLD),
    (crash(), {"working_days": _not_today()}, True, policy.OUTSIDE_HOURS),
])
def test_what_is_not_asked_about(tmp_path, event, settings, active, reason):
    event = dataclasses.replace(event, start=event.start + time.time() - _COLLECTED)  # as old now as when made
    answers = []
    pulse = make_pulse(tmp_path, answers, active=active, **settings)
    assert pulse.offer(event) == reason
    assert pulse.reasons[reason] == 1 and pulse.asked_today(time.time()) == 0 and answers == []
    kept = policy.read_day(tmp_path / policy.STATE_FILE, time.time())["not_asked"]
    assert kept == ({} if reason == policy.BELOW_BAR else {reason: 1})  # every event is offered: below the bar not kept


def test_outside_the_working_hours_of_today(tmp_path):
    hour = time.localtime().tm_hour
    hours = "00:00-01:00" if hour >= 2 else "22:00-23:00"
    assert make_pulse(tmp_path, [], working_hours=hours).offer(crash()) == policy.OUTSIDE_HOURS


def test_over_the_bar():
    pulse = make_pulse("/nonexistent", [])
    assert pulse.over_bar(Event(type="hang", app="x", start=0, duration_s=30.0))
    assert pulse.over_bar(Event(type="connectivity_loss", app="x", start=0, duration_s=300.0))
    assert pulse.over_bar(crash())


@pytest.mark.parametrize("text", ['{"day": 3, "asked": "many"', "[1, 2]", '{"day": "%s", "asked": -4}',
                                  '{"day": "%s", "asked": 1.5, "not_asked": {"because": 3, "do not disturb": "x"}}'])
def test_a_broken_state_file_counts_nothing(tmp_path, text):
    (tmp_path / policy.STATE_FILE).write_text(text.replace("%s", time.strftime("%Y-%m-%d")))
    assert policy.read_day(tmp_path / policy.STATE_FILE, time.time()) == {"asked": 0, "not_asked": {}}
    pulse = make_pulse(tmp_path, [])
    assert pulse.offer(crash(ago_s=700)) == policy.TOO_OLD  # and the file is written anew
    assert policy.read_day(tmp_path / policy.STATE_FILE, time.time()) == {"asked": 0,
                                                                         "not_asked": {policy.TOO_OLD: 1}}


def test_the_questions():
    assert policy.question(crash())["title"] == "Crasher just closed unexpectedly"
    hang = Event(type="hang", app="Outlook", start=0, duration_s=150.0)
    assert policy.question(hang)["title"] == "Outlook stopped responding for 2 minutes"
    lost = Event(type="connectivity_loss", app="collector", start=0, duration_s=45.0)
    assert policy.question(lost)["title"] == "The network connection was lost for 45 seconds"
    assert all(q["body"] == "Did this cost you work?" for q in map(policy.question, (hang, lost)))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not: a container's init may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def test_an_overrunning_child_is_killed_with_what_it_started_and_keeps_the_day_count(tmp_path, monkeypatch):
    """A child killed after the answer time may have shown the question: FAILED does not give the day back."""
    started = tmp_path / "grandchild.pid"
    real = policy.child_command
    monkeypatch.setattr(session, "find_session", lambda: session.Session(os.getuid(), os.getgid()))
    monkeypatch.setattr(policy, "child_command", lambda where: (
        ["sh", "-c", f"sleep 600 & echo $! > {started}; wait"], real(where)[1]))  # the real options
    monkeypatch.setattr(policy, "CHILD_GRACE_S", 0.0)
    answers = []
    pulse = make_pulse(tmp_path, answers)
    pulse.settings.answer_timeout_s = 1.0
    assert pulse.offer(crash()) is None
    wait_until(lambda: pulse.reasons[policy.FAILED] == 1, 10, what="the child killed")
    grandchild = int(started.read_text())
    wait_until(lambda: not _alive(grandchild), 5, what="the child's own child killed with it")
    assert answers == [] and pulse.asked_today(time.time()) == 1
    assert policy.read_day(tmp_path / policy.STATE_FILE, time.time())["not_asked"] == {policy.FAILED: 1}


def test_a_new_day_in_the_state_file_is_never_overwritten_by_the_day_before(tmp_path):
    now = time.time()
    state = tmp_path / policy.STATE_FILE
    state.write_text(json.dumps({"day": time.strftime("%Y-%m-%d", time.localtime(now)), "asked": 1, "not_asked": {}}))
    pulse = make_pulse(tmp_path, [], active=False)
    yesterday = now - 86400
    assert pulse.offer(crash(ago_s=86400), now=yesterday) == policy.INACTIVE  # kept in offer's day, not today's
    assert policy.read_day(state, now) == {"asked": 1, "not_asked": {}}
    assert policy.read_day(state, yesterday) == {"asked": 0, "not_asked": {}}


def test_the_child_runs_our_agent_package_whatever_the_user_keeps_in_home(tmp_path):
    """A directory named agent in the session user's home (or the agent's working directory) shadows nothing."""
    home = tmp_path / "home"
    (home / "agent" / "pulse").mkdir(parents=True)
    for init in (home / "agent" / "__init__.py", home / "agent" / "pulse" / "__init__.py"):
        init.write_text("")
    (home / "agent" / "pulse" / "ask.py").write_text("print('shadowed')\n")
    cmd, options = policy.child_command(session.Session(os.getuid(), os.getgid(), {"HOME": str(home)}))
    done = subprocess.run(cmd, input=json.dumps({"title": "t", "body": "b", "timeout_s": 10}).encode(),
                          capture_output=True, timeout=30, **options)
    assert done.stdout.decode().strip() in outcome.REASONS and done.returncode == outcome.NOT_SHOWN, done
    assert options.get("start_new_session") is True  # killed as a group (the test above)


def test_an_agent_in_windows_session_0_asks_nothing():
    assert session.windows_session(0) == session.SERVICE_SESSION
    assert isinstance(session.windows_session(1), session.Session)
    assert session.SERVICE_SESSION in policy.NOTHING_SHOWN and policy.FAILED not in policy.NOTHING_SHOWN
