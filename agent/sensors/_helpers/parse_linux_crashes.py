"""Parse Linux crash records: systemd-coredump journal entries and apport reports (pure).

systemd-coredump logs one journal entry per core dump, with MESSAGE_ID
fc2e22bc6ee647b6b90729ab34a250b1 and fields COREDUMP_PID, COREDUMP_SIGNAL,
COREDUMP_SIGNAL_NAME, COREDUMP_EXE, COREDUMP_COMM, COREDUMP_TIMESTAMP (µs),
COREDUMP_PACKAGE_NAME / _VERSION (where known); ``journalctl -o json`` renders
every value as a string. Apport writes ``/var/crash/*.crash`` files of
``Key: value`` lines (continuation lines start with a space): ProblemType,
Date (local asctime), ExecutablePath, Package ("name version"), Signal,
SignalName; the core dump itself comes later and is never read.
"""

from __future__ import annotations

import os
import time

from agent.catalogue import Catalogue
from agent.sensors._helpers.signals import is_crash_signal, signal_name
from contract.records import Event

COREDUMP_MESSAGE_ID = "fc2e22bc6ee647b6b90729ab34a250b1"
APPORT_STOP_KEYS = ("CoreDump",)  # everything from here on is bulk data


class CrashRecordError(ValueError):
    """A journal entry or apport report without the fields a crash needs."""


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def coredump_event(entry: dict, catalogue: Catalogue) -> Event | None:
    """The crash in one systemd-coredump journal entry (``journalctl -o json``), or None."""
    if entry.get("MESSAGE_ID") != COREDUMP_MESSAGE_ID:
        return None
    number = _int(entry.get("COREDUMP_SIGNAL"))
    name = entry.get("COREDUMP_SIGNAL_NAME") or (signal_name(number) if number else "")
    if not name:
        raise CrashRecordError("coredump entry without COREDUMP_SIGNAL")
    if not is_crash_signal(name):
        return None
    exe = os.path.basename(entry.get("COREDUMP_EXE") or "") or entry.get("COREDUMP_COMM") or "unknown"
    micros = _int(entry.get("COREDUMP_TIMESTAMP")) or _int(entry.get("__REALTIME_TIMESTAMP"))
    if micros is None:
        raise CrashRecordError("coredump entry without a timestamp")
    details = {"source": "coredump", "exe": exe, "comm": entry.get("COREDUMP_COMM"), "signal": name,
               "signal_number": number, "core_dumped": True, "pid": _int(entry.get("COREDUMP_PID")),
               "app_version": entry.get("COREDUMP_PACKAGE_VERSION")}
    return Event(type="crash", app=_app(catalogue, exe, entry.get("COREDUMP_COMM")), start=micros / 1e6,
                 details={k: v for k, v in details.items() if v is not None})


def _app(catalogue: Catalogue, exe: str, comm: str | None) -> str:
    found = catalogue.lookup(exe) or catalogue.lookup(comm)
    return found.name if found else exe


def parse_apport(text: str) -> dict[str, str]:
    """The header fields of an apport report, up to (not including) the core dump."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line[1:]
            continue
        key, sep, value = line.partition(": ") if ": " in line else line.partition(":")
        if not sep or not key or " " in key:
            raise CrashRecordError(f"not an apport report: line {line[:40]!r}")
        if key in APPORT_STOP_KEYS:
            break
        fields[key] = value
    if "ProblemType" not in fields:
        raise CrashRecordError("not an apport report: no ProblemType")
    return fields


def apport_event(fields: dict[str, str], catalogue: Catalogue) -> Event | None:
    """The crash an apport report describes, or None (package problems, non-fault signals)."""
    if fields.get("ProblemType") != "Crash":
        return None
    number = _int(fields.get("Signal"))
    name = fields.get("SignalName") or (signal_name(number) if number else "")
    if name and not is_crash_signal(name):
        return None
    try:
        when = time.mktime(time.strptime(fields.get("Date", ""), "%a %b %d %H:%M:%S %Y"))
    except ValueError:
        raise CrashRecordError(f"apport Date {fields.get('Date')!r} is not like 'Mon Nov 23 13:05:12 2026'") from None
    exe = os.path.basename(fields.get("ExecutablePath", "")) or "unknown"
    package = fields.get("Package", "").split()
    details = {"source": "apport", "exe": exe, "signal": name or None, "signal_number": number,
               "app_version": package[1] if len(package) > 1 else None}
    return Event(type="crash", app=_app(catalogue, exe, None), start=when,
                 details={k: v for k, v in details.items() if v is not None})
