"""Parse macOS diagnostic reports into hinder events (pure; tested on fixtures).

Three formats live in DiagnosticReports:

- ``.ips`` (macOS 12 and later): one line of JSON (the header: ``bug_type``,
  ``app_name``, ``app_version``, ``bundleID``, ``timestamp``, ``incident_id``,
  ``name``...) followed by a JSON body. For crashes (bug_type 309) the body has
  ``procName``, ``pid``, ``captureTime``, ``bundleInfo``, ``exception`` (type,
  signal, codes), ``termination``, ``faultingThread``, ``threads[].frames[]``
  with an ``imageIndex`` into ``usedImages[]`` (whose ``name`` is the module).
- ``.crash`` (older releases): ``Key: value`` header lines (Process, Identifier,
  Version, Date/Time, Exception Type ``EXC_BAD_ACCESS (SIGSEGV)``...) and a
  ``Thread N Crashed:`` backtrace whose first frame names the module.
- ``.hang`` / ``.spin`` (spindump): ``Key: value`` lines including Command,
  PID, Version, Date/Time, ``Event: hang`` and ``Duration: 12.24s``.

Only structured fields are kept; paths, user ids and stack frames are not sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from agent.catalogue import Catalogue
from contract.records import Event

SOURCE = "diagnostic_report"
CRASH_BUG_TYPES = {"309", "109"}  # JSON crash report, legacy crash report
REPORT_SUFFIXES = (".ips", ".crash", ".hang", ".spin")


class ReportError(ValueError):
    """The file is not a diagnostic report this parser understands."""


@dataclass
class Report:
    """What one report says, in the terms of a hinder event."""

    kind: str  # "crash" or "hang"
    process: str
    time: float
    fmt: str
    version: str | None = None
    bundle_id: str | None = None
    pid: int | None = None
    exception_type: str | None = None
    signal: str | None = None
    faulting_module: str | None = None
    duration_s: float = 0.0
    report_id: str | None = None

    def to_event(self, catalogue: Catalogue) -> Event:
        details = {"source": SOURCE, "format": self.fmt, "exe": self.process, "app_version": self.version,
                   "bundle_id": self.bundle_id, "pid": self.pid, "exception_type": self.exception_type,
                   "signal": self.signal, "faulting_module": self.faulting_module, "report_id": self.report_id}
        details = {k: v for k, v in details.items() if v not in (None, "")}
        return Event(type=self.kind, app=catalogue.app_name(self.process), start=self.time,
                     duration_s=self.duration_s, severity="error", details=details)


def parse_report(name: str, text: str) -> Report | None:
    """Parse a report by its file name's suffix; None for reports that are neither crash nor hang."""
    if name.endswith(".ips"):
        return parse_ips(text)
    if name.endswith(".crash"):
        return parse_crash_text(text)
    if name.endswith((".hang", ".spin")):
        return parse_hang_text(text)
    raise ReportError(f"{name}: not a diagnostic report (expected {', '.join(REPORT_SUFFIXES)})")


def parse_time(text: str) -> float:
    """'2026-11-20 09:14:03.5561 +0100' (fraction optional) -> Unix seconds."""
    m = re.match(r"^\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)?\s*([+-]\d{4})\s*$", text or "")
    if not m:
        raise ReportError(f"unreadable report time {text!r}")
    base = datetime.strptime(m.group(1) + " " + m.group(3), "%Y-%m-%d %H:%M:%S %z").timestamp()
    return base + (float(m.group(2)) if m.group(2) else 0.0)


def parse_ips(text: str) -> Report | None:
    """A JSON crash report: header line + body; None for other .ips kinds (analytics, jetsam...)."""
    head, _, body_text = text.partition("\n")
    try:
        header = json.loads(head)
        body = json.loads(body_text) if body_text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ReportError(f"not an .ips report (header line + JSON body): {exc}") from None
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise ReportError("not an .ips report: header and body must be JSON objects")
    bug_type = str(header.get("bug_type", body.get("bug_type", "")))
    if bug_type not in CRASH_BUG_TYPES:
        return None
    exception = body.get("exception") or {}
    bundle = body.get("bundleInfo") or {}
    process = body.get("procName") or header.get("app_name") or header.get("name") or "unknown"
    when = parse_time(body.get("captureTime") or header.get("timestamp", ""))
    return Report(
        kind="crash", process=process, time=when, fmt="ips",
        version=bundle.get("CFBundleShortVersionString") or header.get("app_version"),
        bundle_id=bundle.get("CFBundleIdentifier") or header.get("bundleID"),
        pid=body.get("pid") if isinstance(body.get("pid"), int) else None,
        exception_type=exception.get("type"), signal=exception.get("signal"),
        faulting_module=_ips_faulting_module(body), report_id=header.get("incident_id") or body.get("incident"),
    )


def _ips_faulting_module(body: dict) -> str | None:
    try:
        thread = body["threads"][body["faultingThread"]]
        frame = thread["frames"][0]
        return body["usedImages"][frame["imageIndex"]].get("name")
    except (KeyError, IndexError, TypeError):
        return None


def _fields(text: str) -> dict[str, str]:
    """'Key:   value' lines of a text report (first occurrence wins)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Z][A-Za-z /]+?):\s+(.*\S)\s*$", line)
        if m:
            out.setdefault(m.group(1), m.group(2))
    return out


def _seconds(text) -> float:
    m = re.match(r"^\s*([\d.]+)\s*s", str(text or ""))
    return float(m.group(1)) if m else 0.0


def parse_crash_text(text: str) -> Report:
    """A legacy ``.crash`` text report."""
    f = _fields(text)
    process = f.get("Process", "")
    m = re.match(r"^(.*?)\s*\[(\d+)\]$", process)
    if not m or "Date/Time" not in f:
        raise ReportError("not a .crash report: no 'Process: name [pid]' or 'Date/Time:' line")
    exc = re.match(r"^(\S+)(?:\s*\((SIG\w+)\))?", f.get("Exception Type", ""))
    return Report(
        kind="crash", process=m.group(1), pid=int(m.group(2)), time=parse_time(f["Date/Time"]), fmt="crash",
        version=f.get("Version", "").split(" ")[0] or None, bundle_id=f.get("Identifier"),
        exception_type=exc.group(1) if exc else None, signal=exc.group(2) if exc else None,
        faulting_module=_crashed_thread_module(text), report_id=f.get("Incident Identifier"),
    )


def _crashed_thread_module(text: str) -> str | None:
    m = re.search(r"^Thread \d+ Crashed:.*\n\s*0\s+(\S+)", text, flags=re.MULTILINE)
    return m.group(1) if m else None


def parse_hang_text(text: str) -> Report | None:
    """A spindump ``.hang`` / ``.spin`` report; None if its event is not a hang."""
    f = _fields(text)
    if "Date/Time" not in f or not (f.get("Command") or f.get("Process")):
        raise ReportError("not a spindump report: no 'Date/Time:' or 'Command:' line")
    if f.get("Event", "hang").lower() != "hang":
        return None
    process = re.sub(r"\s*\[\d+\]$", "", f.get("Command") or f["Process"])
    pid = f.get("PID", "")
    return Report(
        kind="hang", process=process, time=parse_time(f["Date/Time"]), fmt="spindump",
        version=f.get("Version", "").split(" ")[0] or None, bundle_id=f.get("Identifier"),
        pid=int(pid) if pid.isdigit() else None, duration_s=_seconds(f.get("Duration")),
        report_id=f.get("Incident Identifier"),
    )
