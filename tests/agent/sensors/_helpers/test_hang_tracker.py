"""Hang tracking from repeated observations, with explicit times."""

from __future__ import annotations

from agent.sensors._helpers.hang_tracker import HangTracker, Stuck

EDITOR = Stuck(app="Editor", exe="editor", threshold_s=3.0)


def _run(tracker, rounds, gone=()):
    events = []
    for now, stuck in rounds:
        events += tracker.observe(now, stuck, lambda pid: pid in gone)
    return events


def test_a_hang_longer_than_the_threshold_is_one_event_when_it_ends():
    rounds = [(0, {}), (1, {7: EDITOR}), (2, {7: EDITOR}), (3, {7: EDITOR}), (4, {7: EDITOR}), (5, {})]
    (hang,) = _run(HangTracker("test"), rounds)
    assert (hang.type, hang.app, hang.start, hang.duration_s) == ("hang", "Editor", 1, 3)
    assert hang.details == {"source": "test", "exe": "editor", "pid": 7, "threshold_s": 3.0, "ended": "responding"}


def test_shorter_stalls_and_interrupted_ones_are_not_hangs():
    rounds = [(1, {7: EDITOR}), (2, {7: EDITOR}), (3, {}), (4, {7: EDITOR}), (5, {7: EDITOR}), (6, {})]
    assert _run(HangTracker("test"), rounds) == []


def test_a_process_that_dies_while_hung_ends_the_hang_as_exited():
    rounds = [(1, {9: EDITOR}), (5, {9: EDITOR}), (6, {})]
    (hang,) = _run(HangTracker("test"), rounds, gone={9})
    assert hang.details["ended"] == "exited" and hang.duration_s == 4


def test_lead_time_counts_the_time_before_the_os_called_it_hung():
    rounds = [(10, {3: EDITOR}), (11, {})]
    (hang,) = _run(HangTracker("test", lead_s=5.0), rounds)
    assert hang.start == 5 and hang.duration_s == 5


def test_a_reused_pid_with_another_program_starts_a_new_hang():
    other = Stuck(app="Other", exe="other", threshold_s=0.0)
    rounds = [(1, {4: EDITOR}), (2, {4: EDITOR}), (3, {4: other}), (4, {})]
    (hang,) = _run(HangTracker("test"), rounds)
    assert hang.app == "Other" and hang.start == 3
