"""The version of the application an executable belongs to, for events' ``details.app_version``.

``version_of(path)`` asks the OS's own record of what is installed: on Linux
the package that installed the file (snap, dpkg or rpm: appversion_linux.py),
on Windows the file's version resource (parse_pe_version.py), on macOS the
application bundle's Info.plist (appversion_macos.py). Each executable is
looked up once: the answer, a version or None, is kept in a small LRU cache
keyed by the file's identity (device, inode, modification time), so a program
updated in place is looked up again. A file that is gone, or an executable
deleted since the process started (``... (deleted)``: the file now at that
path is not the one that ran), has no version.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict

from agent.inventory import bounded
from contract.events import APP_VERSION

MAX_CACHED = 256  # executables remembered (each a path and a short version)
_cache: OrderedDict[tuple, str | None] = OrderedDict()
_lock = threading.Lock()


def _look_up(path: str, platform_id: str) -> str | None:
    if platform_id.startswith("linux"):
        from agent.sensors._helpers.appversion_linux import package_version

        return package_version(path)
    if platform_id.startswith("win"):
        from agent.sensors._helpers.parse_pe_version import file_version

        return file_version(path)
    if platform_id == "darwin":
        from agent.sensors._helpers.appversion_macos import bundle_version

        return bundle_version(path)
    return None


def version_of(path: str | None, platform_id: str = sys.platform) -> str | None:
    """The version of the application whose executable is at ``path`` (bounded, printable), or None."""
    if not path or path.endswith(" (deleted)") or not os.path.isabs(path):
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    key = (path, st.st_dev, st.st_ino, st.st_mtime_ns, platform_id)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        version = bounded(_look_up(path, platform_id))
    except (OSError, ValueError, UnicodeError):
        version = None
    with _lock:
        _cache[key] = version
        while len(_cache) > MAX_CACHED:
            _cache.popitem(last=False)
    return version


def add_version(details: dict, path: str | None) -> None:
    """Put the version of the executable at ``path`` in an event's ``details`` (``app_version``), where it has
    one and the details none yet."""
    if APP_VERSION not in details:
        version = version_of(path)
        if version:
            details[APP_VERSION] = version
