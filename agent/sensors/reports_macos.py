"""Crashes and hangs on macOS from DiagnosticReports.

ReportCrash and spindump write one file per crash or hang into
``/Library/Logs/DiagnosticReports`` and each user's
``~/Library/Logs/DiagnosticReports`` (older ones move to ``Retired/``). Every
poll lists those folders; files not seen before are parsed
(``_helpers/parse_macos_reports.py``) and reported once. The names already
seen are kept in the state directory, so restarts neither repeat nor miss
reports; at the first start the existing files are taken as history and not
reported.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass

from agent.sensors._helpers import parse_macos_reports as mac
from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

DEFAULT_DIRECTORIES = ["/Library/Logs/DiagnosticReports", "/Users/*/Library/Logs/DiagnosticReports"]
MAX_REPORT_BYTES = 4 << 20


@dataclass
class MacReportsConfig(SensorConfig):
    interval_s: float = setting(10.0, min=1, max=3600, doc="how often the report folders are listed")
    directories: list[str] = setting(default_factory=lambda: list(DEFAULT_DIRECTORIES),
                                     doc="report folders (glob patterns); their Retired/ subfolders are read too")


class MacReportsSensor(Sensor):
    """New crash (.ips, .crash) and hang (.hang, .spin) reports."""

    name = "reports_macos"
    Config = MacReportsConfig
    platforms = ("darwin",)
    explain = (
        "Reads new crash and hang reports that macOS writes to DiagnosticReports. Sends: program name and version, "
        "bundle id, exception type and signal, faulting module, hang duration, report id. Never paths, user names "
        "or stack traces."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._path = ctx.state_path("reports_macos.json")
        self._seen: set[str] = set()

    def _report_files(self) -> dict[str, str]:
        """File name -> path of every report in the configured folders."""
        files = {}
        for pattern in self.config.directories:
            for folder in glob.glob(pattern):
                for sub in (folder, os.path.join(folder, "Retired")):
                    try:
                        names = os.listdir(sub)
                    except OSError:
                        continue
                    for name in names:
                        if name.endswith(mac.REPORT_SUFFIXES):
                            files.setdefault(name, os.path.join(sub, name))
        return files

    def start(self):
        try:
            self._seen = set(json.loads(self._path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            self._seen = set(self._report_files())  # first start: existing reports are history
            self._save()
        except (ValueError, TypeError):
            self.ctx.log.warning("%s is unreadable; existing reports are taken as history", self._path)
            self._seen = set(self._report_files())

    def poll(self):
        files = self._report_files()
        events: list[Event] = []
        for name in sorted(set(files) - self._seen):
            self._seen.add(name)
            event = self._read(name, files[name])
            if event:
                events.append(event)
        if len(self._seen) > len(files):  # forget reports macOS deleted, so the state stays small
            self._seen &= set(files)
        self._save()
        return events

    def _read(self, name: str, path: str) -> Event | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(MAX_REPORT_BYTES)
            report = mac.parse_report(name, text)
        except (OSError, mac.ReportError) as exc:
            self.ctx.log.warning("skipping diagnostic report %s: %s", name, exc)
            return None
        return report.to_event(self.ctx.catalogue) if report else None

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self._seen)), encoding="utf-8")
        tmp.replace(self._path)

    @classmethod
    def examples(cls):
        return [Event(type="crash", app="Numbers", start=time.time(), details={
            "source": "diagnostic_report", "format": "ips", "exe": "Numbers", "app_version": "14.1",
            "exception_type": "EXC_BAD_ACCESS", "signal": "SIGSEGV", "faulting_module": "libobjc.A.dylib"})]
