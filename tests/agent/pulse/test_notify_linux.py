"""The Linux ask child against a real notification daemon (dunst) on a real D-Bus session bus under Xvfb."""

from __future__ import annotations

import pytest

from agent.pulse import outcome as ask
from contract.answers import BUTTONS
from tests.agent.pulse._desktop import Desktop, finish, start_bus, wait_displayed, wait_until


@pytest.mark.parametrize("answer", ["lost_work", "none"])
def test_the_answer_is_the_action_invoked_in_the_daemon(clean_desktop, answer):
    desktop = clean_desktop
    child = desktop.ask()
    wait_displayed(desktop, child)
    desktop.invoke(answer)
    assert finish(child)[:2] == (0, answer)
    wait_until(lambda: desktop.displayed() == 0, 5, what="the answered notification to close")
    # what dunst offered: one action per button, with its label, on our notification
    offered = sorted(line for line in desktop.menu() if "(Crasher just closed unexpectedly)" in line)
    keys = sorted(line.rsplit(",", 1)[1].rstrip("]") for line in offered)
    labels = sorted(line[1:].split(" (", 1)[0] for line in offered)
    assert keys == sorted(b.name for b in BUTTONS) and labels == sorted(b.label for b in BUTTONS)
    (shown, *_) = wait_until(desktop.history, 5, what="the notification in dunst's history")
    assert shown["appname"] == "hinder" and shown["summary"] == "Crasher just closed unexpectedly"


def test_no_answer_in_time_is_unanswered_and_the_notification_closed(clean_desktop):
    desktop = clean_desktop
    child = desktop.ask(timeout_s=1)
    assert finish(child)[:2] == (0, "unanswered")
    assert desktop.displayed() == 0


def test_a_dismissed_notification_is_unanswered(clean_desktop):
    desktop = clean_desktop
    child = desktop.ask()
    wait_displayed(desktop, child)
    desktop.dunstctl("close")
    assert finish(child)[:2] == (0, "unanswered")


def test_paused_dunst_is_do_not_disturb_and_nothing_is_queued(clean_desktop):
    desktop = clean_desktop
    desktop.dunstctl("set-paused", "true")
    status, out, err = finish(desktop.ask())
    assert (status, out) == (ask.NOT_SHOWN, ask.DO_NOT_DISTURB) and "dunst paused" in err
    assert desktop.dunstctl("count", "waiting") == "0"


def test_a_bus_without_a_notification_service_shows_nothing(desktop, tmp_path):
    bus, address = start_bus(tmp_path)
    try:
        other = Desktop(desktop.display, address, tmp_path)
        status, out, err = finish(other.ask())
        assert (status, out) == (ask.NOT_SHOWN, ask.NO_SERVICE) and "ServiceUnknown" in err
    finally:
        bus.terminate()
        bus.wait(10)
