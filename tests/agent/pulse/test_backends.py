"""What this machine can check of the Windows and macOS backends (the toast script, the dialog, their outputs,
the notification states), and the D-Bus wire format of the Linux one."""

from __future__ import annotations

import base64
import json
import struct
import xml.etree.ElementTree as ET

import pytest

from agent.pulse import _dbus, notify_macos, notify_windows
from agent.pulse.ask import backend
from agent.pulse.outcome import ABSENT, DO_NOT_DISTURB, NO_SERVICE, PRESENTATION, UNSUPPORTED, NotShown
from contract.answers import BUTTONS

TITLE = "O'Brien's \u2019App\u2019 <b>&</b> \"quoted\" just closed unexpectedly"


def test_the_toast_has_one_button_per_answer_and_its_texts_escaped():
    toast = ET.fromstring(notify_windows.toast_xml(TITLE, "Did this cost you work?"))
    assert [t.text for t in toast.iter("text")] == [TITLE, "Did this cost you work?"]
    actions = toast.find("actions").findall("action")
    assert [(a.get("content"), a.get("arguments"), a.get("activationType")) for a in actions] == \
        [(b.label, b.name, "foreground") for b in BUTTONS]


def test_the_powershell_script_holds_no_text_of_the_question():
    """PowerShell ends a single-quoted string at ' and at each of U+2018, U+2019, U+201A, U+201B: the texts reach
    the script as data (base64 in an environment variable), never as part of it."""
    title = TITLE + " \u201a$(calc)\u201b; \u2018x\u2019"
    cmd = notify_windows.command(300)
    assert cmd[:2] == ["powershell.exe", "-NoProfile"] and cmd[-2] == "-EncodedCommand"
    script = base64.b64decode(cmd[-1]).decode("utf-16-le")
    assert script == notify_windows.script(300) and script.isascii()  # no quote-like character can be in it
    assert f"$env:{notify_windows.TOAST_VARIABLE}" in script and "calc" not in script and "O'Brien" not in script
    xml = base64.b64decode(notify_windows.toast_data(title, "Did this cost you work?")).decode("utf-8")
    assert [t.text for t in ET.fromstring(xml).iter("text")] == [title, "Did this cost you work?"]
    assert f"'{notify_windows.POWERSHELL_AUMID}'" in script
    for event in ("Activated", "Dismissed", "Failed"):
        assert f"-EventName {event}" in script


def test_the_toast_waits_for_the_answer_time_in_the_notification_centre_and_is_removed_after_it():
    """Dismissed with TimedOut (the toast left the screen after about 25 s) is no answer: the script waits on until
    the deadline, then hides the toast and removes it from the notification centre."""
    script = notify_windows.script(300)
    loop = script.split("while ($true) {", 1)[1].split("\n}\n", 1)[0]
    assert "$deadline = [DateTime]::UtcNow.AddSeconds(300)" in script and "Wait-Event -Timeout $left" in loop
    assert "Remove-Event -EventIdentifier $got.EventIdentifier" in loop  # else Wait-Event returns it again at once
    assert "-ne [Windows.UI.Notifications.ToastDismissalReason]::TimedOut) { break }" in loop
    after = script.split("\n}\n", 1)[1]
    assert "$notifier.Hide($toast)" in after
    assert (f"History.Remove('{notify_windows.TAG}', '{notify_windows.GROUP}', $aumid)" in after
            and f"$toast.Tag = '{notify_windows.TAG}'" in script and f"$toast.Group = '{notify_windows.GROUP}'" in script)


def test_a_notification_state_that_cannot_be_read_asks_nothing():
    assert notify_windows.read_quns() is None  # no shell32 here, as when the call fails on Windows
    assert notify_windows.quns_reason(None) == NO_SERVICE


@pytest.mark.parametrize("output, answer", [
    ("few_minutes\r\n", "few_minutes"), ("unanswered\r\n", "unanswered"), ("", "unanswered"),
    ("lost_work; rm -rf /\r\n", "unanswered"), ("\r\nnone\r\n", "none"),
])
def test_the_toast_output(output, answer):
    assert notify_windows.parse_output(output) == answer


def test_a_failed_toast_shows_nothing():
    with pytest.raises(NotShown) as exc:
        notify_windows.parse_output("failed\r\n")
    assert exc.value.reason == NO_SERVICE


@pytest.mark.parametrize("state, reason", [
    (notify_windows.QUNS_NOT_PRESENT, ABSENT), (notify_windows.QUNS_BUSY, PRESENTATION),
    (notify_windows.QUNS_RUNNING_D3D_FULL_SCREEN, PRESENTATION), (notify_windows.QUNS_PRESENTATION_MODE, PRESENTATION),
    (notify_windows.QUNS_QUIET_TIME, DO_NOT_DISTURB), (notify_windows.QUNS_ACCEPTS_NOTIFICATIONS, None),
    (notify_windows.QUNS_APP, None),
])
def test_the_notification_states_that_forbid_asking(state, reason):
    assert notify_windows.quns_reason(state) == reason


def test_the_macos_dialog_gets_its_texts_as_arguments():
    cmd = notify_macos.command(TITLE, "Did this cost you work?")
    assert cmd[:3] == ["osascript", "-e", notify_macos.SCRIPT]
    assert cmd[3:] == [TITLE, "Did this cost you work?", *(b.label for b in BUTTONS)]
    assert TITLE not in notify_macos.SCRIPT


@pytest.mark.parametrize("output, answer", [
    ("More than 15 minutes\n", "over_15_minutes"), ("No\n", "none"), ("false\n", "unanswered"), ("", "unanswered"),
])
def test_the_dialog_output(output, answer):
    assert notify_macos.parse_output(output) == answer


def test_focus_from_the_assertions_file():
    record = {"assertionUUID": "5A2D7F0C-3F56-4D6B-9C1E-2D0C7E6B1A11", "assertionStartDateTimestamp": 786543210.5,
              "assertionDetails": {"assertionDetailsModeIdentifier": "com.apple.donotdisturb.mode.default"}}
    on = {"data": [{"storeAssertionRecords": [record], "header": {"timestamp": 1}}], "header": {"timestamp": 1}}
    off = {"data": [{"header": {"timestamp": 1}}], "header": {"timestamp": 1}}
    assert notify_macos.focus_active(json.dumps(on)) and not notify_macos.focus_active(json.dumps(off))
    assert not notify_macos.focus_active("not json") and not notify_macos.focus_active("[]")


def test_the_backend_per_system():
    assert backend("linux").__name__ == "agent.pulse.notify_linux"
    assert backend("win32") is notify_windows and backend("darwin") is notify_macos
    with pytest.raises(NotShown) as exc:
        backend("sunos5")
    assert exc.value.reason == UNSUPPORTED


def test_a_notify_call_encodes_as_the_specification_says():
    msg = _dbus.Message(_dbus.METHOD_CALL, 7, 0, {"path": "/org/freedesktop/Notifications", "member": "Notify",
                                                  "destination": "org.freedesktop.Notifications",
                                                  "signature": "susssasa{sv}i"},
                        ("hinder", 0, "", "t", "b", ["none", "No"], {"urgency": _dbus.Variant("y", 1)}, 5000))
    raw = _dbus.encode(msg)
    assert raw[:4] == b"l\x01\x00\x01" and struct.unpack_from("<I", raw, 8)[0] == 7
    assert (len(raw) - struct.unpack_from("<I", raw, 4)[0]) % 8 == 0  # the body starts 8-aligned
    decoded, n = _dbus.decode(raw + b"extra")
    assert n == len(raw) and decoded.headers["member"] == "Notify"
    assert decoded.body == ("hinder", 0, "", "t", "b", ["none", "No"], {"urgency": 1}, 5000)
    assert _dbus.decode(raw[:-1]) is None  # not whole yet


def test_signatures_and_addresses():
    assert _dbus.split_signature("susssasa{sv}i") == ["s", "u", "s", "s", "s", "as", "a{sv}", "i"]
    assert _dbus.split_signature("a(yv)(ii)") == ["a(yv)", "(ii)"]
    assert _dbus.parse_address("unix:path=/run/user/1000/bus") == "/run/user/1000/bus"
    assert _dbus.parse_address("tcp:host=x;unix:abstract=/tmp/dbus-%41b,guid=1") == b"\0/tmp/dbus-Ab"
    for bad in ("tcp:host=localhost,port=1", "unix:path=%zz"):
        with pytest.raises(_dbus.DBusError):
            _dbus.parse_address(bad)
    with pytest.raises(_dbus.DBusError):
        _dbus.split_signature("a{sv")
