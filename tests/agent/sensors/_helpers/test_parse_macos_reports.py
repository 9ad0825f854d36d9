"""Parsing of macOS diagnostic reports (fixtures in tests/agent/sensors/fixtures/macos, see SOURCES.md)."""

from __future__ import annotations

import pytest

from agent.catalogue import App, Catalogue
from agent.sensors._helpers import parse_macos_reports as mac
from contract.check import validate_batch
from contract.records import make_batch

CATALOGUE = Catalogue([App(name="Numbers", executables=["Numbers"])])


def _parse(fixtures_dir, name):
    return mac.parse_report(name, (fixtures_dir / "macos" / name).read_text(encoding="utf-8"))


def test_ips_crash(fixtures_dir):
    report = _parse(fixtures_dir, "Numbers-2026-11-20-091403.ips")
    event = report.to_event(CATALOGUE)
    assert event.type == "crash" and event.app == "Numbers"
    assert event.start == pytest.approx(mac.parse_time("2026-11-20 08:14:03.5561 +0000"))
    assert event.details == {
        "source": "diagnostic_report", "format": "ips", "exe": "Numbers", "app_version": "14.1",
        "bundle_id": "com.apple.iWork.Numbers", "pid": 4711, "exception_type": "EXC_BAD_ACCESS", "signal": "SIGSEGV",
        "faulting_module": "libobjc.A.dylib", "report_id": "3D0E9F2A-7B1C-4C5D-8E6F-0A1B2C3D4E5F",
    }
    validate_batch(make_batch("device-0001", [event.to_wire()], []), now=event.start)


def test_other_ips_kinds_are_not_crashes(fixtures_dir):
    assert _parse(fixtures_dir, "JetsamEvent-2026-11-20-101500.ips") is None


def test_legacy_crash_text(fixtures_dir):
    report = _parse(fixtures_dir, "LegacyTool_2026-11-18-164210_MacBook-Pro.crash")
    event = report.to_event(CATALOGUE)
    assert event.type == "crash" and event.app == "LegacyTool"
    assert (report.pid, report.version, report.bundle_id) == (3141, "3.2.1", "com.example.legacytool")
    assert (report.exception_type, report.signal, report.faulting_module) == ("EXC_CRASH", "SIGABRT", "libsystem_kernel.dylib")
    assert report.time == pytest.approx(mac.parse_time("2026-11-18 15:42:10.482 +0000"))


def test_spindump_hang(fixtures_dir):
    report = _parse(fixtures_dir, "Pages_2026-11-21-143012_MacBook-Pro.hang")
    event = report.to_event(CATALOGUE)
    assert event.type == "hang" and event.app == "Pages" and event.duration_s == pytest.approx(12.24)
    assert event.details["pid"] == 5120 and event.details["format"] == "spindump"
    assert event.details["report_id"] == "7C6B5A49-3827-4165-9E8D-7C6B5A493827"
    assert not any("/" in str(v) for v in event.details.values())  # no paths leave the device


@pytest.mark.parametrize("name,text", [
    ("x.ips", "not json\n{}"),
    ("x.ips", '{"bug_type":"309"}\n{"captureTime":"yesterday"}'),
    ("x.crash", "Process: foo\n"),
    ("x.hang", "Duration: 3s\n"),
    ("x.txt", "anything"),
])
def test_bad_reports_are_clear_errors(name, text):
    with pytest.raises(mac.ReportError):
        mac.parse_report(name, text)
