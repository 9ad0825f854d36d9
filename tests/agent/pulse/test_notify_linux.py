"""The Linux ask child against a real notification daemon (dunst) on a real D-Bus session bus under Xvfb."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

import pytest

from agent.pulse import notify_linux
from agent.pulse import outcome as ask
from agent.pulse._dbus import BUS, SIGNAL, Connection, DBusError, Message, Variant, encode
from contract.answers import BUTTONS
from tests.agent.pulse._desktop import Desktop, finish, start_bus, wait_displayed
from tests.agent.pulse.test_dbus import NESTED_VARIANTS, big_endian_action, raw
from tests.conftest import ROOT, wait_until


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


def _unique_name_of(bus: Connection, pid: int) -> str | None:
    """The unique name of the connection that process ``pid`` holds on the bus."""
    for name in bus.call(BUS, "/org/freedesktop/DBus", BUS, "ListNames")[0]:
        try:
            if name.startswith(":") and bus.call(BUS, "/org/freedesktop/DBus", BUS, "GetConnectionUnixProcessID",
                                                 "s", (name,))[0] == pid:
                return name
        except DBusError:
            pass  # gone meanwhile
    return None


def test_a_hostile_client_of_the_bus_can_neither_answer_nor_break_the_question(clean_desktop):
    """Any client of the session bus can send the child messages: malformed ones (the bus refuses what it can
    check), well-formed hostile ones, and forged answers, to its unique name or to everyone."""
    desktop = clean_desktop
    child = desktop.ask()
    wait_displayed(desktop, child)
    with Connection(desktop.bus) as peer:
        target = wait_until(lambda: _unique_name_of(peer, child.pid), 5, what="the child on the bus")
        for malformed in (raw("a()", b"\x08\0\0\0" + b"\0" * 12, destination=target),
                          raw("a", b"", destination=target), raw("v", NESTED_VARIANTS, destination=target)):
            with Connection(desktop.bus) as broken:  # the bus drops such a sender
                broken._sock.sendall(malformed)

        def signal(member: str, signature: str, body: tuple, destination: str = target) -> None:
            headers = {"path": notify_linux.PATH, "interface": notify_linux.BUS_NAME, "member": member,
                       "destination": destination, "signature": signature}
            peer._sock.sendall(encode(Message(SIGNAL, 1, 0, headers, body)))

        signal("Huge", "s", ("x" * (2 << 20),))  # over the client's bound: skipped, not fatal
        signal("Deep", "v", (Variant("v", Variant("v", Variant("ay", [1] * 10))),))
        peer.send(target, "/", "org.example.Hostile", "Poke", "s", ("hello",))  # a call the child never answers
        for nid in range(1, 200):  # dunst numbers its notifications from 1
            signal("ActionInvoked", "u", (nid,))  # the wrong shape
            signal("ActionInvoked", "us", (nid, "lost_work"))
            peer._sock.sendall(big_endian_action(nid, "over_15_minutes", target))
        signal("ActionInvoked", "us", (1, "lost_work"), destination="")  # to everyone
        peer.call(BUS, "/org/freedesktop/DBus", BUS, "GetId")  # the bus has passed all of it on
    assert child.poll() is None and desktop.displayed() == 1
    desktop.invoke("few_minutes")
    assert finish(child)[:2] == (0, "few_minutes")


def _set_fullscreen(display_name: str, window: int, on: bool) -> None:
    """Ask the window manager to make ``window`` full screen (or not), as an application does (EWMH)."""
    from agent.sensors._helpers import x11

    display = x11.Display.open(display_name)
    try:
        atoms = display.atoms(("_NET_WM_STATE", "_NET_WM_STATE_FULLSCREEN"))
        event = x11.XEvent()
        msg = event.xclient
        msg.type, msg.window, msg.message_type, msg.format = x11.CLIENT_MESSAGE, window, atoms["_NET_WM_STATE"], 32
        msg.l[0], msg.l[1], msg.l[3] = int(on), atoms["_NET_WM_STATE_FULLSCREEN"], 1
        display.lib.XSendEvent(display.ptr, display.root, 0,
                               x11.SUBSTRUCTURE_REDIRECT_MASK | x11.SUBSTRUCTURE_NOTIFY_MASK, ctypes.byref(event))
        display.flush()
    finally:
        display.close()


@pytest.mark.skipif(not all(map(shutil.which, ("openbox", "xmessage", "xdotool"))),
                    reason="needs openbox, xmessage and xdotool (Debian packages openbox, x11-utils, xdotool)")
def test_a_full_screen_active_window_is_a_presentation(clean_desktop):
    desktop = clean_desktop
    run = dict(env=desktop.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wm = subprocess.Popen(["openbox", "--sm-disable"], **run)
    window = subprocess.Popen(["xmessage", "-title", "pulse-slides", "Quarterly results"], **run)
    try:
        found = subprocess.run(["xdotool", "search", "--sync", "--name", "pulse-slides"], env=desktop.env,
                               capture_output=True, text=True, timeout=10).stdout.split()
        wid = int(found[0])
        wait_until(lambda: subprocess.run(["xdotool", "windowactivate", "--sync", str(wid)], env=desktop.env,
                                          capture_output=True, timeout=10).returncode == 0, 10,
                   what="openbox to activate the window")
        assert not notify_linux.fullscreen(desktop.display)
        _set_fullscreen(desktop.display, wid, True)
        wait_until(lambda: notify_linux.fullscreen(desktop.display), 10, what="the window full screen")
        status, out, err = finish(desktop.ask())
        assert (status, out) == (ask.NOT_SHOWN, ask.PRESENTATION) and desktop.displayed() == 0
        _set_fullscreen(desktop.display, wid, False)
        wait_until(lambda: not notify_linux.fullscreen(desktop.display), 10, what="the window back from full screen")
    finally:
        for proc in (window, wm):
            proc.terminate()
            proc.wait(10)


def test_a_bus_gone_after_the_question_was_shown_is_unanswered(desktop, tmp_path):
    bus, address = start_bus(tmp_path)
    other = Desktop(desktop.display, address, tmp_path)
    dunst = subprocess.Popen(["dunst", "-config", str(desktop.dir / "dunstrc")], env=other.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: subprocess.run(["dunstctl", "is-paused"], env=other.env, capture_output=True)
                   .returncode == 0, 15, what="the second dunst")
        child = other.ask(timeout_s=60)
        wait_displayed(other, child)
        bus.kill()
        assert finish(child, timeout_s=10)[:2] == (0, "unanswered")
    finally:
        for proc in (dunst, bus):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_the_agent_process_never_loads_the_backends():
    code = ("import sys, agent.runner, agent.explain; "
            "print(sorted(m for m in sys.modules if m.startswith(('agent.pulse.notify', 'agent.pulse._dbus', "
            "'agent.pulse.ask', 'agent.sensors._helpers.x11'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"
