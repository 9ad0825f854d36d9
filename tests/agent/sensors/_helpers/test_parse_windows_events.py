"""Parsing of event log XML as wevtutil renders it (fixtures in tests/agent/sensors/fixtures/windows, SOURCES.md)."""

from __future__ import annotations

import pytest

from agent.catalogue import App, Catalogue
from agent.sensors._helpers import parse_windows_events as winevt
from contract.check import validate_batch
from contract.records import make_batch, parse_time

CATALOGUE = Catalogue([App(name="Excel", executables=["EXCEL.EXE"]), App(name="Outlook", executables=["outlook.exe"])])


def _load(fixtures_dir, name):
    return winevt.parse_events((fixtures_dir / "windows" / name).read_text(encoding="utf-8"))


def test_application_error_1000_named_data(fixtures_dir):
    named, _ = _load(fixtures_dir, "application_1000.xml")
    assert (named.provider, named.event_id, named.record_id, named.channel) == ("Application Error", 1000, 48211, "Application")
    assert named.time == pytest.approx(parse_time("2026-11-20T09:14:03.556Z"), abs=0.001)
    event = winevt.application_event(named, CATALOGUE)
    assert event.type == "crash" and event.app == "Excel" and event.severity == "error"
    assert event.details == {
        "source": "eventlog", "event_id": 1000, "exe": "EXCEL.EXE", "app_version": "16.0.17928.20156",
        "faulting_module": "mso20win32client.dll", "module_version": "0.0.0.0", "exception_code": "0xc0000005",
        "fault_offset": "00000000000a31f4", "pid": 0x2F1C, "report_id": "6c3e1f0a-9b2d-4e57-8a41-0d9f3c2b7e15",
        "record_id": 48211,
    }
    assert not any("\\" in str(v) for v in event.details.values())  # no paths leave the device


def test_application_error_1000_positional_data_gives_the_same_fields(fixtures_dir):
    _, positional = _load(fixtures_dir, "application_1000.xml")
    event = winevt.application_event(positional, CATALOGUE)
    assert event.app == "legacyapp.exe"  # not catalogued: the executable's name
    assert event.details["exception_code"] == "0xc0000374"
    assert event.details["faulting_module"] == "ntdll.dll"
    assert event.details["pid"] == 0x1A2C  # the pid is hex, with or without '0x'
    assert event.details["report_id"] == "2f8e7d6c-5b4a-4392-8170-6e5d4c3b2a19"


def test_application_hang_1002(fixtures_dir):
    (rec,) = _load(fixtures_dir, "application_1002.xml")
    event = winevt.application_event(rec, CATALOGUE)
    assert event.type == "hang" and event.app == "Outlook"
    assert event.details["ended"] == "killed" and event.details["hang_type"] == "Quiesce"
    assert event.details["pid"] == 0x3B48 and event.details["app_version"] == "16.0.17928.20156"


def test_dotnet_runtime_1026(fixtures_dir):
    (rec,) = _load(fixtures_dir, "application_1026.xml")
    event = winevt.application_event(rec, CATALOGUE)
    assert event.type == "crash" and event.app == "Timesheet.exe"
    assert event.details["exception_type"] == "System.NullReferenceException"
    assert event.details["framework_version"] == "v4.0.30319"


def test_unrelated_application_records_are_ignored(fixtures_dir):
    records = _load(fixtures_dir, "application_unrelated.xml")
    assert [winevt.application_event(r, CATALOGUE) for r in records] == [None, None]


def test_shutdown_records_of_one_boot_merge_into_one_event(fixtures_dir):
    records = _load(fixtures_dir, "system_shutdowns.xml")
    bluescreen, power_button = winevt.shutdown_events(records)
    assert bluescreen.type == "unexpected_shutdown" and bluescreen.severity == "critical"
    assert bluescreen.details["event_ids"] == [41, 1001, 6008]
    assert bluescreen.details["bugcheck_code"] == "0x0000009f"  # 159 in event 41, 0x9f in 1001
    assert bluescreen.details["report_id"] == "8e2f4b1c-3d5a-4e6f-9a0b-1c2d3e4f5a6b"
    assert bluescreen.details["power_button"] is False and bluescreen.duration_s == 0
    assert power_button.details["event_ids"] == [41] and power_button.details["power_button"] is True
    assert "bugcheck_code" not in power_button.details
    validate_batch(make_batch("device-0001", [e.to_wire() for e in (bluescreen, power_button)], []),
                   now=power_button.start)


def test_shutdown_downtime_from_the_agents_last_sign_of_life(fixtures_dir):
    records = _load(fixtures_dir, "system_shutdowns.xml")
    boot = records[0].time
    event = winevt.shutdown_events(records[:3], previous_last_alive=boot - 1800)[0]
    assert event.start == boot - 1800 and event.duration_s == pytest.approx(1800)
    assert event.details["downtime_estimated"] is True


@pytest.mark.parametrize("text", ["<Event><System>", "not xml at all <", "<Event xmlns='x'></Event>"])
def test_bad_input_is_a_clear_error(text):
    with pytest.raises(winevt.EventXmlError):
        winevt.parse_events(text)


def test_empty_output_is_no_records():
    assert winevt.parse_events("") == [] and winevt.parse_events("\r\n") == []
