"""The identity keys a heartbeat may carry: keyed hashes of this computer's name, its asset tag and the signed-in
employee's account, so the collector can join service-desk tickets to the device (docs/agent.md, "Identity keys").

Off unless the fleet's config turns it on: ``[agent] identity`` lists the kinds
to send (``host``, ``asset``, ``account``) and ``identity_key_file`` holds the
fleet's identity key, the same as the collector's ``[support]
identity_key_file``. Each name is reduced and hashed by
:func:`contract.identity.identity_key` (HMAC-SHA256 under that key): without
the key the hash cannot be turned back into the name. :class:`IdentityKeys`
reads the names at each heartbeat (cheap, the asset tag only once) and hashes
a name only when it changed.
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from contract.identity import KINDS, identity_key, read_secret

DMI_DIR = Path("/sys/class/dmi/id")
DMI_ASSET_FILES = ("chassis_asset_tag", "board_asset_tag")
# What firmware writes where nobody set an asset tag (compared lowercased, without surrounding spaces and dots).
PLACEHOLDERS = frozenset({
    "", "default string", "no asset tag", "no asset information", "to be filled by o.e.m", "not specified",
    "not available", "none", "n/a", "na", "unknown", "asset tag", "asset-1234567890", "chassis asset tag",
    "base board asset tag", "system asset tag", "0", "00000000", "0000000000", "invalid", "oem", "123456789",
    "type2 - board asset tag", "empty",
})
COMMAND_TIMEOUT_S = 10.0
_IOREG_SERIAL = re.compile(r'"IOPlatformSerialNumber"\s*=\s*"([^"]*)"')
_LOCAL_TERMINAL = re.compile(r"^(:\d+(\.\d+)?|tty\d*|seat\d+|console)$")


def real_tag(value: str | None) -> str | None:
    """An asset tag or serial as read, or None for a placeholder firmware writes where none was set."""
    if value is None:
        return None
    value = value.strip().strip("\x00").strip()
    if value.lower().rstrip(".") in PLACEHOLDERS or value.strip("0") == "":
        return None
    return value


def asset_tag_linux(dmi_dir: Path = DMI_DIR) -> str | None:
    """The chassis, else board, asset tag from the kernel's DMI files (readable by every user)."""
    for name in DMI_ASSET_FILES:
        try:
            tag = real_tag((dmi_dir / name).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if tag:
            return tag
    return None


def asset_tag_windows() -> str | None:
    """The SMBIOS asset tag of the system enclosure, as WMI exposes it (Win32_SystemEnclosure.SMBIOSAssetTag)."""
    command = ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command",
               "(Get-CimInstance -ClassName Win32_SystemEnclosure).SMBIOSAssetTag"]
    return real_tag(_run(command))


def serial_from_ioreg(output: str) -> str | None:
    """The hardware serial in ``ioreg -rd1 -c IOPlatformExpertDevice`` output."""
    found = _IOREG_SERIAL.search(output or "")
    return real_tag(found.group(1)) if found else None


def asset_tag_macos() -> str | None:
    """Macs have no SMBIOS asset tag: the hardware serial stands for it (the bar code on the case)."""
    return serial_from_ioreg(_run(["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"]) or "")


def asset_tag(platform_id: str = sys.platform) -> str | None:
    """This computer's asset tag (macOS: its serial), or None when there is none or it cannot be read."""
    if platform_id.startswith("linux"):
        return asset_tag_linux()
    if platform_id.startswith("win"):
        return asset_tag_windows()
    if platform_id == "darwin":
        return asset_tag_macos()
    return None


def console_user(platform_id: str = sys.platform) -> str | None:
    """The account of the employee signed in at this computer's screen, not the agent's service account.

    macOS: the owner of ``/dev/console``. Elsewhere the sessions the OS lists
    (``psutil.users()``: utmp on Linux, Terminal Services sessions on Windows),
    the newest local one first (a display ``:0``, a ``tty``, a seat), else the
    newest of any; None when nobody is signed in.
    """
    if platform_id == "darwin":
        from agent.sensors._helpers.console_macos import console_uid

        uid = console_uid()
        try:
            import pwd

            name = pwd.getpwuid(uid).pw_name if uid is not None else None
        except (KeyError, ImportError):
            return None
        return None if name == "_mbsetupuser" else name
    try:
        return session_user(psutil.users())
    except (OSError, psutil.Error):
        return None


def session_user(sessions: list) -> str | None:
    """The employee among ``psutil.users()`` sessions: the newest local one (display, tty, seat; Windows lists
    no terminal), else the newest of any; root is never an employee."""
    newest = sorted(sessions, key=lambda u: u.started or 0, reverse=True)
    local = [u for u in newest if u.terminal is None or _LOCAL_TERMINAL.match(u.terminal)]
    for u in local + newest:
        if u.name and u.name != "root":
            return u.name
    return None


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def names(kinds: list[str], tag: str | None) -> dict[str, str | None]:
    """The names of the configured kinds as this computer knows them now (``tag``: the asset tag, read once)."""
    readers = {"host": socket.gethostname, "asset": lambda: tag, "account": console_user}
    return {kind: readers[kind]() for kind in kinds}


class IdentityKeys:
    """The keys of the configured kinds, hashed again only when a name changes."""

    def __init__(self, kinds: list[str], key_file: str, log: logging.Logger | None = None):
        self.kinds = [k for k in KINDS if k in kinds]
        self.secret: bytes | None = None
        self.problem: str | None = None  # why no key is sent although some are configured
        self._tag: str | None = None
        self._hashed: dict[str, tuple[str | None, str | None]] = {}  # kind -> (name, key)
        if not self.kinds:
            return
        if "asset" in self.kinds:
            self._tag = asset_tag()  # the hardware's: read once
        try:
            self.secret = read_secret(key_file)
        except (OSError, ValueError) as exc:
            self.problem = f"cannot read the identity key file {key_file}: {getattr(exc, 'strerror', None) or exc}"
            if log:
                log.error("identity keys configured but not sent: %s", self.problem)

    def current(self) -> dict[str, tuple[str | None, str | None]]:
        """kind -> (the name it stands for, its key) for each configured kind; the key None when not sent."""
        if self.secret is None:
            return {kind: (name, None) for kind, name in names(self.kinds, self._tag).items()}
        for kind, name in names(self.kinds, self._tag).items():
            if kind not in self._hashed or self._hashed[kind][0] != name:
                self._hashed[kind] = (name, identity_key(self.secret, kind, name) if name else None)
        return dict(self._hashed)

    def keys(self) -> dict[str, str | None]:
        """The heartbeat's ``host_key``, ``asset_key``, ``account_key`` (only the configured kinds)."""
        if self.secret is None:
            return {}
        return {f"{kind}_key": key for kind, (_, key) in self.current().items()}
