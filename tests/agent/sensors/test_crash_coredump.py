"""The coredump/apport fallback sensor against real journal files read by the real journalctl."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time

import pytest

from agent.sensors.crash_coredump import CrashCoredumpConfig, CrashCoredumpSensor
from agent.sensors.crash_proc import CrashProcConfig, CrashProcSensor

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def _write_journal(directory, entries, name):
    """Write entries into a real journal file with systemd-journal-remote (journal export format)."""
    export = "".join("".join(f"{k}={v}\n" for k, v in e.items() if k != "__CURSOR") + "\n" for e in entries)
    proc = subprocess.run([JOURNAL_REMOTE, "-o", str(directory / f"{name}.journal"), "-"], input=export.encode(),
                          check=True, capture_output=True)
    assert f"writing {len(entries)} entries" in proc.stderr.decode(), proc.stderr


@pytest.fixture
def entries(fixtures_dir):
    """The fixture entries, re-stamped to now so that they are the newest in the journal."""
    now_us = int(time.time() * 1e6)
    out = []
    for i, line in enumerate((fixtures_dir / "linux" / "coredump_entries.jsonl").read_text().splitlines()):
        e = json.loads(line)
        e.update(__REALTIME_TIMESTAMP=str(now_us + i), __MONOTONIC_TIMESTAMP=str(1_000_000 + i))
        if "COREDUMP_TIMESTAMP" in e:
            e["COREDUMP_TIMESTAMP"] = str(now_us + i)
        out.append(e)
    return out


@pytest.fixture
def journal(tmp_path):
    if not shutil.which("journalctl") or not os.path.exists(JOURNAL_REMOTE):
        pytest.skip("needs journalctl and systemd-journal-remote (apt-get install systemd systemd-journal-remote)")
    d = tmp_path / "journal"
    d.mkdir()
    return d


@pytest.fixture
def make_sensor(make_ctx, tmp_path, journal):
    apport = tmp_path / "crash"
    apport.mkdir()

    def build(mode="always", state_dir=None):
        ctx = make_ctx(state_dir=state_dir or tmp_path / "state")
        ctx.sensors["crash_proc"] = CrashProcConfig()
        sensor = CrashCoredumpSensor(CrashCoredumpConfig(mode=mode, journal_directory=str(journal),
                                                         apport_directory=str(apport)), ctx)
        sensor.start()
        return sensor

    return build, apport


def test_new_coredump_entries_once_history_never(make_sensor, journal, entries):
    build, _ = make_sensor
    old = dict(entries[0], COREDUMP_PID="1", __REALTIME_TIMESTAMP=str(int(entries[0]["__REALTIME_TIMESTAMP"]) - 10**7))
    _write_journal(journal, [old], "history")
    sensor = build()
    assert sensor.poll() == []
    _write_journal(journal, entries, "new")
    events = sensor.poll()
    assert [(e.app, e.details["signal"], e.details["pid"]) for e in events] == [("firefox-esr", "SIGSEGV", 4242)]
    assert sensor.poll() == []
    assert build().poll() == []  # a restart continues after the saved cursor


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="no dpkg database here")
def test_an_entry_without_a_package_note_gets_the_version_from_the_package_database(make_sensor, journal, entries):
    build, _ = make_sensor
    sensor = build()
    sleep = os.path.realpath(shutil.which("sleep"))
    entry = {k: v for k, v in entries[0].items() if not k.startswith("COREDUMP_PACKAGE")}
    entry.update(COREDUMP_EXE=sleep, COREDUMP_COMM="sleep", COREDUMP_PID="777")
    _write_journal(journal, [entry], "unnoted")
    (event,) = sensor.poll()
    expected = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "coreutils"], capture_output=True, text=True,
                              check=True).stdout
    assert event.details["exe"] == "sleep" and event.details["app_version"] == expected


def test_apport_reports_and_no_double_count_with_the_journal(make_sensor, journal, entries, fixtures_dir):
    build, apport = make_sensor
    sensor = build()
    report = (fixtures_dir / "linux" / "apport_soffice.crash").read_text()
    (apport / "_usr_lib_libreoffice_program_soffice.bin.1000.crash").write_text(report)
    (event,) = sensor.poll()
    assert event.details["source"] == "apport" and event.details["exe"] == "soffice.bin"
    # the same firefox crash recorded by both systemd-coredump and apport is one crash
    _write_journal(journal, entries[:1], "ff")
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(int(entries[0]["COREDUMP_TIMESTAMP"]) / 1e6))
    (apport / "_usr_lib_firefox-esr_firefox-esr.1000.crash").write_text(
        report.replace("soffice.bin", "firefox-esr").replace("Mon Nov 23 13:05:12 2026", stamp))
    assert [e.details["source"] for e in sensor.poll()] == ["coredump"]


def test_broken_apport_report_is_skipped(make_sensor, caplog):
    build, apport = make_sensor
    sensor = build()
    (apport / "junk.crash").write_text("this is not a report\n")
    assert sensor.poll() == []
    assert "skipping apport report" in caplog.text


def test_stands_by_while_the_process_connector_runs(make_sensor, journal, entries, caplog):
    if CrashProcSensor.unavailable(CrashProcConfig()):
        pytest.skip("the process connector is not available here (needs root)")
    caplog.set_level(logging.INFO)
    build, _ = make_sensor
    sensor = build(mode="fallback")
    _write_journal(journal, entries, "new")
    assert sensor.poll() == []
    assert "crash source: process connector" in caplog.text
