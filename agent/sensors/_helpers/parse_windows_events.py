"""Parse Windows event log records (the XML of ``wevtutil qe ... /f:xml``) into hinder events.

Pure parsing, tested on fixtures; no Windows needed. Only structured fields are
read (the ``<System>`` block and the ``<EventData>`` values), never the
localized message text. Classic providers write positional ``<Data>``
elements without names; manifest providers name them. For each event id we
know the names of the positions, so both renderings give the same fields:

- Application Error 1000 (crash): AppName, AppVersion, AppTimeStamp, ModuleName,
  ModuleVersion, ModuleTimeStamp, ExceptionCode, FaultingOffset, ProcessId,
  ProcessCreationTime, AppPath, ModulePath, IntegratorReportId, PackageFullName,
  PackageRelativeAppId.
- Application Hang 1002 (hang ended by closing the app): AppName, AppVersion,
  ProcessId, StartTime, TerminationTime, AppPath, ReportId, PackageFullName,
  PackageRelativeAppId, HangType.
- .NET Runtime 1026 (crash): one value, ``Application: x.exe`` / ``Framework
  Version: ...`` / ``Description: ...`` / ``Exception Info: System.Type ...``
  lines written by the runtime itself (not localized).
- Kernel-Power 41, EventLog 6008, WER-SystemErrorReporting 1001 (BugCheck): the
  machine went down uncleanly; merged into one ``unexpected_shutdown`` per boot.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from agent.catalogue import Catalogue
from contract.records import Event, format_time

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
SOURCE = "eventlog"

_POSITIONS = {
    ("Application Error", 1000): ("AppName", "AppVersion", "AppTimeStamp", "ModuleName", "ModuleVersion",
                                  "ModuleTimeStamp", "ExceptionCode", "FaultingOffset", "ProcessId",
                                  "ProcessCreationTime", "AppPath", "ModulePath", "IntegratorReportId",
                                  "PackageFullName", "PackageRelativeAppId"),
    ("Application Hang", 1002): ("AppName", "AppVersion", "ProcessId", "StartTime", "TerminationTime", "AppPath",
                                 "ReportId", "PackageFullName", "PackageRelativeAppId", "HangType"),
    ("Microsoft-Windows-WER-SystemErrorReporting", 1001): ("param1", "param2", "param3"),
    ("EventLog", 6008): ("ShutdownTime", "ShutdownDate"),
}
SHUTDOWN_IDS = {("Microsoft-Windows-Kernel-Power", 41), ("EventLog", 6008), ("Microsoft-Windows-WER-SystemErrorReporting", 1001)}
# How close together the events of one unclean shutdown are logged at the next boot.
SHUTDOWN_GROUP_S = 900.0


class EventXmlError(ValueError):
    """The text is not event log XML."""


@dataclass
class WinEvent:
    """The structured part of one event log record."""

    provider: str
    event_id: int
    record_id: int
    time: float  # Unix seconds (TimeCreated, UTC)
    channel: str
    data: dict[str, str] = field(default_factory=dict)


def parse_events(xml_text: str) -> list[WinEvent]:
    """Parse zero or more concatenated ``<Event>`` elements (wevtutil's output has no root element)."""
    body = re.sub(r"<\?xml[^>]*\?>", "", xml_text).strip()
    if not body:
        return []
    try:
        root = ET.fromstring(f"<Events>{body}</Events>")
    except ET.ParseError as exc:
        raise EventXmlError(f"not event log XML: {exc}") from None
    elements = [el for el in root if el.tag in (NS + "Event", "Event")]
    if len(elements) != len(root):
        raise EventXmlError("expected only <Event> elements in the event log namespace")
    return [_parse_one(el) for el in elements]


def _find(el: ET.Element, tag: str) -> ET.Element | None:
    """A child by tag, with or without the event namespace."""
    found = el.find(NS + tag)
    return found if found is not None else el.find(tag)


def _parse_one(el: ET.Element) -> WinEvent:
    system = _find(el, "System")
    if system is None:
        raise EventXmlError("event without a <System> block")
    provider_el = _find(system, "Provider")
    provider = provider_el.get("Name", "") if provider_el is not None else ""
    id_el = _find(system, "EventID")
    record_el = _find(system, "EventRecordID")
    time_el = _find(system, "TimeCreated")
    channel_el = _find(system, "Channel")
    if id_el is None or time_el is None:
        raise EventXmlError("event without EventID or TimeCreated")
    event_id = int(id_el.text)
    names = _POSITIONS.get((provider, event_id), ())
    data: dict[str, str] = {}
    event_data = _find(el, "EventData")
    if event_data is not None:
        for i, d in enumerate(x for x in event_data if x.tag in (NS + "Data", "Data")):
            name = d.get("Name") or (names[i] if i < len(names) else f"param{i + 1}")
            data[name] = (d.text or "").strip()
    return WinEvent(provider=provider, event_id=event_id, record_id=int(record_el.text) if record_el is not None else 0,
                    time=_parse_system_time(time_el.get("SystemTime", "")),
                    channel=channel_el.text if channel_el is not None else "", data=data)


def _parse_system_time(text: str) -> float:
    """'2026-11-23T10:15:30.1234567Z' (7 fraction digits) -> Unix seconds."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", text)
    if not m:
        raise EventXmlError(f"TimeCreated SystemTime {text!r} is not UTC ISO 8601")
    base = datetime.fromisoformat(m.group(1) + "+00:00").timestamp()
    return base + (float("0." + m.group(2)) if m.group(2) else 0.0)


def _hex(text: str | None) -> str | None:
    """Normalise '0xC0000005' / 'c0000005' / '3221225477' to '0xc0000005'."""
    if not text:
        return None
    t = text.strip().lower()
    try:
        value = int(t, 16) if t.startswith("0x") or re.search(r"[a-f]", t) else int(t)
    except ValueError:
        return None
    return f"0x{value:08x}"


def _int(text: str | None, base: int = 10) -> int | None:
    """An integer field; '0x' always means hex, ``base`` applies to bare digits."""
    if not text:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, base)
    except ValueError:
        return None


def _clean(details: dict) -> dict:
    return {k: v for k, v in details.items() if v not in (None, "")}


def application_event(ev: WinEvent, catalogue: Catalogue) -> Event | None:
    """The crash or hang in one Application-channel record, or None if it is not one of ours."""
    key = (ev.provider, ev.event_id)
    if key == ("Application Error", 1000):
        exe = ev.data.get("AppName", "")
        details = {"source": SOURCE, "event_id": 1000, "exe": exe, "app_version": ev.data.get("AppVersion"),
                   "faulting_module": ev.data.get("ModuleName"), "module_version": ev.data.get("ModuleVersion"),
                   "exception_code": _hex(ev.data.get("ExceptionCode")), "fault_offset": ev.data.get("FaultingOffset"),
                   "pid": _int(ev.data.get("ProcessId"), 16), "report_id": ev.data.get("IntegratorReportId"),
                   "record_id": ev.record_id}
        return Event(type="crash", app=catalogue.app_name(exe or "unknown"), start=ev.time, details=_clean(details))
    if key == ("Application Hang", 1002):
        exe = ev.data.get("AppName", "")
        details = {"source": SOURCE, "event_id": 1002, "exe": exe, "app_version": ev.data.get("AppVersion"),
                   "pid": _int(ev.data.get("ProcessId"), 16), "report_id": ev.data.get("ReportId"),
                   "hang_type": ev.data.get("HangType"), "ended": "killed", "record_id": ev.record_id}
        return Event(type="hang", app=catalogue.app_name(exe or "unknown"), start=ev.time, details=_clean(details))
    if key == (".NET Runtime", 1026):
        fields = _dotnet_fields(next(iter(ev.data.values()), ""))
        exe = fields.get("Application", "")
        exception = fields.get("Exception Info", "").split(" ", 1)[0].rstrip(":") or None
        details = {"source": SOURCE, "event_id": 1026, "exe": exe, "framework_version": fields.get("Framework Version"),
                   "exception_type": exception, "record_id": ev.record_id}
        return Event(type="crash", app=catalogue.app_name(exe or "unknown"), start=ev.time, details=_clean(details))
    return None


def _dotnet_fields(text: str) -> dict[str, str]:
    """'Key: value' lines at the top of a .NET Runtime 1026 record (the stack trace is not read)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("Application", "Framework Version", "Description", "Exception Info"):
            fields.setdefault(key.strip(), value.strip())
    return fields


def shutdown_events(records: list[WinEvent], previous_last_alive: float | None = None) -> list[Event]:
    """Merge System-channel 41 / 6008 / 1001 records into one ``unexpected_shutdown`` per boot.

    The records of one unclean shutdown are logged together at the next boot.
    The outage starts at the agent's last sign of life before that boot when
    known (``previous_last_alive``), and lasts until the first record of the
    group (the boot); otherwise the event is instantaneous at the boot.
    """
    groups: list[list[WinEvent]] = []
    for rec in sorted((r for r in records if (r.provider, r.event_id) in SHUTDOWN_IDS), key=lambda r: r.time):
        if groups and rec.time - groups[-1][0].time <= SHUTDOWN_GROUP_S:
            groups[-1].append(rec)
        else:
            groups.append([rec])
    events = []
    for group in groups:
        booted = group[0].time
        details = {"source": SOURCE, "event_ids": sorted({r.event_id for r in group}), "boot_time": format_time(booted),
                   "record_id": max(r.record_id for r in group)}
        for rec in group:
            if rec.event_id == 41:
                code = _int(rec.data.get("BugcheckCode"))
                if code:
                    details["bugcheck_code"] = f"0x{code:08x}"
                details["power_button"] = (_int(rec.data.get("PowerButtonTimestamp")) or 0) != 0
                details["sleep_in_progress"] = (_int(rec.data.get("SleepInProgress")) or 0) != 0
            elif rec.event_id == 1001:
                m = re.match(r"\s*(0x[0-9a-fA-F]+)", rec.data.get("param1", ""))
                if m:
                    details["bugcheck_code"] = _hex(m.group(1))
                if rec.data.get("param3"):
                    details["report_id"] = rec.data["param3"]
        start, duration = booted, 0.0
        if previous_last_alive is not None and 0 < booted - previous_last_alive <= 31 * 86400:
            start, duration = previous_last_alive, booted - previous_last_alive
            details["downtime_estimated"] = True
        events.append(Event(type="unexpected_shutdown", app="system", start=start, duration_s=duration,
                            severity="critical", details=details))
    return events

