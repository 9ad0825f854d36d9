"""The version of the application bundle an executable belongs to, on macOS (used by appversion.py).

An application's executable lives at ``<Name>.app/Contents/MacOS/<exe>``; its bundle's
``Contents/Info.plist`` (XML or binary property list) names the version people see,
``CFBundleShortVersionString`` ("14.1"), else the build ``CFBundleVersion``. A helper inside another
bundle (``X.app/Contents/Frameworks/Y.app/Contents/MacOS/y``) takes its own bundle's.
"""

from __future__ import annotations

import plistlib
from pathlib import PurePosixPath

MAX_PLIST_BYTES = 1 << 20
_KEYS = ("CFBundleShortVersionString", "CFBundleVersion")


def info_plist(exe_path: str) -> PurePosixPath | None:
    """The Info.plist of the innermost bundle whose Contents/MacOS holds ``exe_path``, or None."""
    parts = PurePosixPath(exe_path).parts
    for i in range(len(parts) - 3, 0, -1):
        if parts[i] == "Contents" and parts[i + 1] == "MacOS" and parts[i - 1].endswith(".app"):
            return PurePosixPath(*parts[: i + 1], "Info.plist")
    return None


def plist_version(data: bytes) -> str | None:
    """The bundle version in an Info.plist's bytes (XML or binary), or None."""
    try:
        info = plistlib.loads(data)
    except Exception:  # an untrusted file: plistlib raises many kinds of errors on a malformed one
        return None
    if not isinstance(info, dict):
        return None
    for key in _KEYS:
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def bundle_version(exe_path: str) -> str | None:
    """The version of the application bundle holding the executable at ``exe_path``, or None."""
    plist = info_plist(exe_path)
    if plist is None:
        return None
    try:
        with open(plist, "rb") as fh:
            data = fh.read(MAX_PLIST_BYTES + 1)
    except OSError:
        return None
    return plist_version(data) if len(data) <= MAX_PLIST_BYTES else None
