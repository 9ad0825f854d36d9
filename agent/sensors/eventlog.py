"""Crashes, killed hangs and unexpected shutdowns from the Windows event log.

Reads the Application channel (1000 Application Error, 1026 .NET Runtime,
1002 Application Hang) and the System channel (41 Kernel-Power, 6008
EventLog, 1001 BugCheck) with ``wevtutil qe ... /f:xml``, filtered by an
XPath on the event ids and on ``EventRecordID`` greater than a bookmark kept
in the state directory, so nothing is reported twice or missed across agent
restarts. At the first start the bookmark is set to the newest record: history
from before the installation is not reported. Parsing lives in
``_helpers/parse_windows_events.py`` and is tested on fixtures.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass

from agent.sensors.base import Sensor, SensorConfig
from contract.records import Event
from contract.settings import setting

CHANNELS = {"Application": (1000, 1002, 1026), "System": (41, 1001, 6008)}
_CREATE_NO_WINDOW = 0x08000000


@dataclass
class EventLogConfig(SensorConfig):
    interval_s: float = setting(10.0, min=1, max=3600, doc="how often the event log is read")
    max_records: int = setting(500, min=1, max=10000, doc="records read per channel per poll")


def _wevtutil(*args: str) -> str:
    """Run wevtutil (Windows only) and return its XML output."""
    proc = subprocess.run(["wevtutil", *args], capture_output=True, text=True, encoding="utf-8", errors="replace",
                          timeout=60, check=True, creationflags=_CREATE_NO_WINDOW)
    return proc.stdout


def query_xml(channel: str, event_ids: tuple[int, ...], after_record: int, count: int) -> str:
    """The XML of up to ``count`` records of these ids newer than ``after_record``, oldest first."""
    ids = " or ".join(f"EventID={i}" for i in event_ids)
    return _wevtutil("qe", channel, f"/q:*[System[({ids}) and EventRecordID>{after_record}]]", "/f:xml",
                     f"/c:{count}", "/rd:false")


def newest_record_xml(channel: str, event_id: int | None = None) -> str:
    """The XML of the newest record of a channel (for the first bookmark), or of its newest of one event id."""
    query = (f"/q:*[System[EventID={event_id}]]",) if event_id is not None else ()
    return _wevtutil("qe", channel, *query, "/c:1", "/rd:true", "/f:xml")


class EventLogSensor(Sensor):
    """Application and System event log records about crashes, hangs and unclean shutdowns."""

    name = "eventlog"
    Config = EventLogConfig
    platforms = ("win32",)
    explain = (
        "Reads new Windows event log records about application crashes (1000, 1026), applications closed while "
        "not responding (1002) and unexpected shutdowns or blue screens (41, 6008, 1001). Sends: program name and "
        "version, faulting module, exception code, process id, report id, bug check code. Never file paths, user "
        "names or message text."
    )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._path = ctx.state_path("eventlog.json")
        self._bookmarks: dict[str, int] = {}
        self._report_hangs = True

    # thin OS calls, replaced by fixtures in tests
    def _query(self, channel: str, event_ids: tuple[int, ...], after_record: int, count: int) -> str:
        return query_xml(channel, event_ids, after_record, count)

    def _newest(self, channel: str) -> int:
        from agent.sensors._helpers import parse_windows_events as winevt  # XML parsing: loaded only where it runs

        records = winevt.parse_events(newest_record_xml(channel))
        return records[0].record_id if records else 0

    def start(self):
        try:
            self._bookmarks = {k: int(v) for k, v in json.loads(self._path.read_text(encoding="utf-8")).items()}
        except (FileNotFoundError, ValueError, TypeError, AttributeError):
            self._bookmarks = {}
        for channel in CHANNELS:
            newest = self._newest(channel)
            if channel not in self._bookmarks or newest < self._bookmarks[channel]:  # new install, or log cleared
                self._bookmarks[channel] = newest
        self._save()
        hang_sensor = self.ctx.sensors.get("hang_windows")
        self._report_hangs = not (hang_sensor and hang_sensor.enabled)  # else 1002 would count its hangs twice

    def poll(self):
        from agent.sensors._helpers import parse_windows_events as winevt

        events: list[Event] = []
        for channel, ids in CHANNELS.items():
            records = winevt.parse_events(self._query(channel, ids, self._bookmarks[channel], self.config.max_records))
            if not records:
                continue
            self._bookmarks[channel] = max(self._bookmarks[channel], *(r.record_id for r in records))
            if channel == "System":
                events += winevt.shutdown_events(records, self._previous_last_alive())
            else:
                for rec in records:
                    event = winevt.application_event(rec, self.ctx.catalogue)
                    if event and (event.type != "hang" or self._report_hangs):
                        events.append(event)
        self._save()
        return events

    def _previous_last_alive(self) -> float | None:
        prev = self.ctx.run_state.previous
        if prev and not prev.clean_stop and prev.boot_id != self.ctx.run_state.current.boot_id:
            return prev.last_alive
        return None

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._bookmarks), encoding="utf-8")
        tmp.replace(self._path)

    @classmethod
    def examples(cls):
        now = time.time()
        return [
            Event(type="crash", app="Excel", start=now, details={
                "source": "eventlog", "event_id": 1000, "exe": "EXCEL.EXE", "app_version": "16.0.17928.20156",
                "faulting_module": "mso20win32client.dll", "exception_code": "0xc0000005", "pid": 12060}),
            Event(type="unexpected_shutdown", app="system", start=now - 600, duration_s=540.0, severity="critical",
                  details={"source": "eventlog", "event_ids": [41, 1001], "bugcheck_code": "0x0000009f"}),
        ]
