"""Parsing of systemd-coredump journal entries and apport reports (fixtures in tests/agent/sensors/fixtures/linux)."""

from __future__ import annotations

import json
import time

import pytest

from agent.catalogue import App, Catalogue
from agent.sensors._helpers import parse_linux_crashes as parse
from contract.check import validate_batch
from contract.records import make_batch

CATALOGUE = Catalogue([App(name="Firefox", executables=["firefox-esr"]), App(name="LibreOffice", executables=["soffice.bin"])])


@pytest.fixture
def entries(fixtures_dir):
    text = (fixtures_dir / "linux" / "coredump_entries.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_coredump_entry_is_a_crash_with_package_version(entries):
    event = parse.coredump_event(entries[0], CATALOGUE)
    assert event.type == "crash" and event.app == "Firefox"
    assert event.start == 1763903111.0  # COREDUMP_TIMESTAMP, not the later journal write
    assert event.details == {"source": "coredump", "exe": "firefox-esr", "comm": "firefox-esr", "signal": "SIGSEGV",
                             "signal_number": 11, "core_dumped": True, "pid": 4242, "app_version": "128.5.0esr-1~deb12u1"}
    validate_batch(make_batch("device-0001", [event.to_wire()], []), now=event.start)


def test_quit_signals_and_other_entries_are_not_crashes(entries):
    assert parse.coredump_event(entries[1], CATALOGUE) is None  # SIGQUIT: a request, not a fault
    assert parse.coredump_event(entries[2], CATALOGUE) is None  # not a coredump message


def test_coredump_entry_without_signal_is_an_error(entries):
    broken = {k: v for k, v in entries[0].items() if not k.startswith("COREDUMP_SIGNAL")}
    with pytest.raises(parse.CrashRecordError):
        parse.coredump_event(broken, CATALOGUE)


def test_apport_report_header_stops_before_the_core_dump(fixtures_dir):
    fields = parse.parse_apport((fixtures_dir / "linux" / "apport_soffice.crash").read_text())
    assert "CoreDump" not in fields and fields["ProcEnviron"] == "\nLANG=de_DE.UTF-8\nSHELL=/bin/bash"
    event = parse.apport_event(fields, CATALOGUE)
    assert event.type == "crash" and event.app == "LibreOffice"
    assert event.start == time.mktime(time.strptime("Mon Nov 23 13:05:12 2026", "%a %b %d %H:%M:%S %Y"))
    assert event.details == {"source": "apport", "exe": "soffice.bin", "signal": "SIGSEGV", "signal_number": 11,
                             "app_version": "4:24.2.7-0ubuntu0.24.04.1"}


def test_apport_package_problems_are_not_crashes():
    fields = parse.parse_apport("ProblemType: Package\nDate: Mon Nov 23 13:05:12 2026\nPackage: foo 1.0\n")
    assert parse.apport_event(fields, CATALOGUE) is None


@pytest.mark.parametrize("text", ["hello world\n", "Date: Mon Nov 23 13:05:12 2026\n"])
def test_not_an_apport_report(text):
    with pytest.raises(parse.CrashRecordError):
        parse.parse_apport(text)
