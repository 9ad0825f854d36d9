"""The user at a Mac's screen: the owner of ``/dev/console`` (root while the login window shows)."""

from __future__ import annotations

import os


def console_uid(path: str = "/dev/console") -> int | None:
    """The uid of the user logged in at the console; None at the login window (owned by root) or without one."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return None
    return uid or None
