"""The application catalogue: which executables and web front ends make up each application IT cares about.

Sensors name the applications they see through it; an executable outside the
catalogue keeps its own base name.
"""

from __future__ import annotations

import ntpath
from dataclasses import dataclass

from contract.settings import setting


@dataclass
class App:
    """One catalogued application: its name, executables, web front ends, thresholds."""

    name: str
    executables: list[str] = setting(default_factory=list, doc="executable base names, e.g. 'firefox' or 'OUTLOOK.EXE'")
    urls: list[str] = setting(default_factory=list, url=True, doc="web front ends or health endpoints to probe")
    slow_threshold_s: float = setting(2.0, min=0.01, max=600, doc="a probe slower than this is a slow response")
    start_threshold_s: float = setting(10.0, min=0.1, max=600, doc="a start slower than this is a slow start")
    hang_threshold_s: float = setting(10.0, min=1, max=3600, doc="a process stuck this long is hung")


class Catalogue:
    """Maps executables to catalogued application names."""

    def __init__(self, apps: list[App]):
        self.apps = apps
        self._by_exe = {exe.lower(): app for app in apps for exe in app.executables}

    @property
    def names_executables(self) -> bool:
        """Whether some catalogued app names its executables (else there are no processes to watch)."""
        return bool(self._by_exe)

    def lookup(self, exe: str | None) -> App | None:
        """The catalogued app owning this executable (path or base name), if any."""
        if not exe:
            return None
        base = ntpath.basename(exe.replace("/", "\\")).lower()
        return self._by_exe.get(base) or self._by_exe.get(base.removesuffix(".exe"))

    def app_name(self, exe: str | None) -> str:
        """The application name for an executable: catalogued name, else its base name."""
        app = self.lookup(exe)
        if app:
            return app.name
        return ntpath.basename((exe or "unknown").replace("/", "\\")) or "unknown"
