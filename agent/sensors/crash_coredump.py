"""Crashes on Linux from systemd-coredump's journal entries and apport reports.

The fallback for machines where the process connector (crash_proc) cannot run,
e.g. an agent without root. With ``mode = "fallback"`` (the default) this
sensor stands by whenever crash_proc is enabled and able to run, so a crash is
counted by one source only; the agent's log says which source is active.

- Journal: ``journalctl -o json MESSAGE_ID=fc2e22bc...`` after a cursor kept in
  the state directory (at the first start: after the newest entry, so history
  is not reported).
- Apport: new or rewritten ``*.crash`` files in /var/crash (header fields only).
  A crash seen in both within two minutes is reported once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

from agent.sensors._helpers import parse_linux_crashes as parse
from agent.sensors._helpers.appversion import add_version
from agent.sensors.base import Sensor, SensorConfig
from agent.sensors.crash_proc import CrashProcSensor
from contract.records import Event
from contract.settings import setting

APPORT_HEADER_BYTES = 256 << 10
SAME_CRASH_S = 120.0


@dataclass
class CrashCoredumpConfig(SensorConfig):
    interval_s: float = setting(10.0, min=1, max=3600, doc="how often the journal and /var/crash are read")
    mode: str = setting("fallback", choices=("fallback", "always"),
                        doc="fallback: stand by while the process connector sensor runs; always: read anyway")
    journal_directory: str = setting("", doc="a journal directory to read instead of the system journal")
    apport_directory: str = setting("/var/crash", doc="where apport writes crash reports")


def journal_lines(directory: str, cursor: str | None, newest_only: bool = False) -> list[str]:
    """systemd-coredump entries as JSON lines, after ``cursor`` (or only the newest one)."""
    args = ["journalctl", "-o", "json", "--no-pager", "-q", f"MESSAGE_ID={parse.COREDUMP_MESSAGE_ID}"]
    if directory:
        args += ["--directory", directory]
    if newest_only:
        args += ["-n", "1"]
    elif cursor:
        args += ["--after-cursor", cursor]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise OSError(f"journalctl failed ({proc.returncode}): {proc.stderr.strip()[:200]}")
    return [line for line in proc.stdout.splitlines() if line.startswith("{")]


class CrashCoredumpSensor(Sensor):
    """Core dumps recorded by systemd-coredump, and apport crash reports."""

    name = "crash_coredump"
    Config = CrashCoredumpConfig
    platforms = ("linux",)
    explain = (
        "Where the kernel's process notifications are not available, reads new core-dump records from the system "
        "journal and new apport crash reports. Sends: program name and package version, signal, process id. "
        "Never command lines, core dumps or file names."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._path = ctx.state_path("crash_coredump.json")
        self._state = {"cursor": None, "apport": {}}
        self._standby = False
        self._journal = False
        self._recent: list[tuple[str, str, float]] = []  # (exe, signal, time) reported from the journal

    def start(self):
        proc_config = self.ctx.sensors.get("crash_proc")
        if self.config.mode == "fallback" and proc_config and proc_config.enabled \
                and CrashProcSensor.unavailable(proc_config) is None:
            self._standby = True
            self.ctx.log.info("crash source: process connector; systemd-coredump journal and apport not read")
            return
        try:
            self._state.update(json.loads(self._path.read_text(encoding="utf-8")))
            first_start = False
        except (FileNotFoundError, ValueError):
            first_start = True
        self._journal = shutil.which("journalctl") is not None
        if self._journal and first_start:
            newest = journal_lines(self.config.journal_directory, None, newest_only=True)
            self._state["cursor"] = json.loads(newest[-1])["__CURSOR"] if newest else None
        if first_start:
            self._state["apport"] = self._apport_files()
        self._save()
        sources = (["systemd-coredump journal"] if self._journal else []) + ["apport " + self.config.apport_directory]
        self.ctx.log.info("crash source: %s (process connector unavailable or not used)", " and ".join(sources))

    def poll(self):
        if self._standby:
            return []
        events = self._from_journal() if self._journal else []
        events += self._from_apport()
        self._save()
        return events

    def _from_journal(self) -> list[Event]:
        events = []
        for line in journal_lines(self.config.journal_directory, self._state["cursor"]):
            entry = json.loads(line)
            self._state["cursor"] = entry.get("__CURSOR", self._state["cursor"])
            try:
                event = parse.coredump_event(entry, self.ctx.catalogue)
            except parse.CrashRecordError as exc:
                self.ctx.log.warning("skipping coredump journal entry: %s", exc)
                continue
            if event:
                add_version(event.details, entry.get("COREDUMP_EXE"))  # a program without a package note
                events.append(event)
                self._recent.append((event.details["exe"], event.details["signal"], event.start))
        cutoff = time.time() - 2 * SAME_CRASH_S
        self._recent = [r for r in self._recent if r[2] >= cutoff]
        return events

    def _apport_files(self) -> dict[str, float]:
        try:
            entries = os.scandir(self.config.apport_directory)
        except OSError:
            return {}
        with entries:
            return {e.name: e.stat().st_mtime for e in entries if e.name.endswith(".crash") and e.is_file()}

    def _from_apport(self) -> list[Event]:
        files = self._apport_files()
        events = []
        for name, mtime in sorted(files.items()):
            if self._state["apport"].get(name) == mtime:
                continue
            try:
                with open(os.path.join(self.config.apport_directory, name), encoding="utf-8", errors="replace") as fh:
                    event = parse.apport_event(parse.parse_apport(fh.read(APPORT_HEADER_BYTES)), self.ctx.catalogue)
            except (OSError, parse.CrashRecordError) as exc:
                self.ctx.log.warning("skipping apport report: %s", exc)
                event = None
            if event and not self._seen_in_journal(event):
                events.append(event)
        self._state["apport"] = files
        return events

    def _seen_in_journal(self, event: Event) -> bool:
        return any(exe == event.details["exe"] and sig == event.details.get("signal")
                   and abs(when - event.start) <= SAME_CRASH_S for exe, sig, when in self._recent)

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state), encoding="utf-8")
        tmp.replace(self._path)

    @classmethod
    def examples(cls):
        return [Event(type="crash", app="firefox", start=time.time(), details={
            "source": "coredump", "exe": "firefox-esr", "comm": "firefox-esr", "signal": "SIGSEGV",
            "signal_number": 11, "core_dumped": True, "pid": 4242, "app_version": "128.5.0esr-1~deb12u1"})]
