"""The question as a freedesktop notification with actions, on the D-Bus session bus (Desktop Notifications 1.2).

``Notify`` with one action per button (key: the answer's name, label: its
label) and an expiry, then the ``ActionInvoked`` or ``NotificationClosed``
signal for that notification id; ``CloseNotification`` when the answer time
is over. Any client of the session bus can send signals to the child: only
those of the connection that owns the notification service (resolved before
``Notify``, which goes to it) count, so no other program can answer. Before
showing anything: the server must list the ``actions`` capability, and
neither do-not-disturb (the spec's ``Inhibited`` property where the server
has it, e.g. KDE Plasma; dunst's ``paused``; GNOME Shell's ``show-banners``
setting) nor a full-screen active window (X11 ``_NET_WM_STATE_FULLSCREEN``: a
presentation, a video call shared full screen, a game) may be on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from agent.pulse._dbus import Connection, DBusError, Variant
from agent.pulse.outcome import DO_NOT_DISTURB, NO_ACTIONS, NO_SERVICE, PRESENTATION, NotShown
from contract.answers import BUTTONS, UNANSWERED

BUS_NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
APP_NAME = "hinder"
DUNST = "org.dunstproject.cmd0"
_ANSWERS = {b.name for b in BUTTONS}
_SIGNALS = {"ActionInvoked": "us", "NotificationClosed": "uu"}  # member: signature (the specification's)


def actions() -> list[str]:
    """The ``actions`` argument of Notify: key, label, key, label ... for every button."""
    return [item for b in BUTTONS for item in (b.name, b.label)]


def do_not_disturb(bus: Connection, server: str) -> str | None:
    """Which do-not-disturb mode is on ('Inhibited', 'dunst paused', 'GNOME banners off'), or None."""
    for interface, prop in ((BUS_NAME, "Inhibited"), (DUNST, "paused")):
        try:
            if bus.get_property(BUS_NAME, PATH, interface, prop) is True:
                return "Inhibited" if prop == "Inhibited" else "dunst paused"
        except DBusError:
            pass  # this server has no such property
    if server == "gnome-shell" and shutil.which("gsettings"):
        try:
            out = subprocess.run(["gsettings", "get", "org.gnome.desktop.notifications", "show-banners"],
                                 capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out == "false":
            return "GNOME banners off"
    return None


def fullscreen(display_name: str | None) -> bool:
    """Whether the active window of this X display is full screen (False when it cannot be read: Wayland)."""
    if not display_name:
        return False
    from agent.sensors._helpers.x11 import Display, X11Unavailable

    try:
        display = Display.open(display_name)
    except X11Unavailable:
        return False
    try:
        atoms = display.atoms(("_NET_ACTIVE_WINDOW", "_NET_WM_STATE", "_NET_WM_STATE_FULLSCREEN"))
        active = display.property(display.root, atoms["_NET_ACTIVE_WINDOW"])
        if not active or not active[0]:
            return False
        state = display.property(active[0], atoms["_NET_WM_STATE"]) or []
        return atoms["_NET_WM_STATE_FULLSCREEN"] in state
    finally:
        display.close()


def ask(title: str, body: str, timeout_s: float, address: str | None = None) -> str:
    """Show the question; the answer's name, or ``unanswered``. NotShown when nothing could be shown."""
    address = address or os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    if not address:
        raise NotShown(NO_SERVICE, "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
    try:
        bus = Connection(address)
    except DBusError as exc:
        raise NotShown(NO_SERVICE, str(exc)) from None
    with bus:
        try:
            (caps,) = bus.call(BUS_NAME, PATH, BUS_NAME, "GetCapabilities")
            server = bus.call(BUS_NAME, PATH, BUS_NAME, "GetServerInformation")[0]
        except DBusError as exc:
            raise NotShown(NO_SERVICE, str(exc)) from None
        if "actions" not in caps:
            raise NotShown(NO_ACTIONS, f"{server} does not list the 'actions' capability")
        mode = do_not_disturb(bus, server)
        if mode:
            raise NotShown(DO_NOT_DISTURB, mode)
        if fullscreen(os.environ.get("DISPLAY")):
            raise NotShown(PRESENTATION, "the active window is full screen")
        try:
            owner = bus.name_owner(BUS_NAME)
            for member in _SIGNALS:
                bus.add_match(f"type='signal',sender='{owner}',interface='{BUS_NAME}',member='{member}',"
                              f"path='{PATH}'")
            hints = {"urgency": Variant("y", 1), "category": Variant("s", "hinder.pulse")}
            (nid,) = bus.call(owner, PATH, BUS_NAME, "Notify", "susssasa{sv}i",
                              (APP_NAME, 0, "", title, body, actions(), hints, int(timeout_s * 1000)))
        except DBusError as exc:
            raise NotShown(NO_SERVICE, str(exc)) from None
        try:
            return _wait(bus, owner, nid, time.monotonic() + timeout_s)
        except DBusError:
            return UNANSWERED  # shown, then the bus or the server went away: no answer came


def _wait(bus: Connection, owner: str, nid: int, deadline: float) -> str:
    """The answer to notification ``nid`` from the server ``owner``: its action, or unanswered when closed,
    dismissed or expired. Signals from any other sender, or of another shape, are ignored."""
    while True:
        msg = bus.next_signal(deadline)
        if msg is None:
            _close(bus, owner, nid)
            return UNANSWERED
        member = msg.headers.get("member")
        if (msg.headers.get("sender") != owner or msg.headers.get("interface") != BUS_NAME
                or member not in _SIGNALS or msg.headers.get("signature") != _SIGNALS[member] or msg.body[0] != nid):
            continue
        if member == "ActionInvoked":
            _close(bus, owner, nid)  # answered: some servers (dunst) keep it on screen otherwise
            return msg.body[1] if msg.body[1] in _ANSWERS else UNANSWERED
        return UNANSWERED  # NotificationClosed


def _close(bus: Connection, owner: str, nid: int) -> None:
    try:
        bus.call(owner, PATH, BUS_NAME, "CloseNotification", "u", (nid,))
    except DBusError:
        pass  # already gone, or the bus is
