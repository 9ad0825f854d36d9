"""The DiagnosticReports sensor on real folders holding fixture reports (the parsing is plain file reading)."""

from __future__ import annotations

import shutil

import pytest

from agent.sensors.reports_macos import MacReportsConfig, MacReportsSensor

CRASH = "Numbers-2026-11-20-091403.ips"
HANG = "Pages_2026-11-21-143012_MacBook-Pro.hang"
LEGACY = "LegacyTool_2026-11-18-164210_MacBook-Pro.crash"
JETSAM = "JetsamEvent-2026-11-20-101500.ips"


@pytest.fixture
def reports(tmp_path, fixtures_dir):
    """Two users' DiagnosticReports folders, and a function to drop a fixture report into one."""
    folders = [tmp_path / "Users" / u / "Library/Logs/DiagnosticReports" for u in ("alice", "bob")]
    for f in folders:
        f.mkdir(parents=True)

    def drop(name, folder=0, retired=False, text=None):
        target = folders[folder] / "Retired" if retired else folders[folder]
        target.mkdir(exist_ok=True)
        if text is None:
            shutil.copy(fixtures_dir / "macos" / name, target / name)
        else:
            (target / name).write_text(text)

    pattern = str(tmp_path / "Users" / "*" / "Library/Logs/DiagnosticReports")
    return drop, pattern


def _sensor(make_ctx, pattern, state_dir=None):
    sensor = MacReportsSensor(MacReportsConfig(directories=[pattern]), make_ctx(state_dir=state_dir))
    sensor.start()
    return sensor


def test_new_reports_are_sent_once_and_history_is_not(make_ctx, reports, tmp_path):
    drop, pattern = reports
    drop(LEGACY, retired=True)  # already there at the first start
    sensor = _sensor(make_ctx, pattern)
    assert sensor.poll() == []
    drop(CRASH, folder=0)
    drop(HANG, folder=1)
    drop(JETSAM, folder=1)
    events = sensor.poll()
    assert sorted((e.type, e.app) for e in events) == [("crash", "Numbers"), ("hang", "Pages")]
    assert sensor.poll() == []


def test_reports_moved_to_retired_and_restarts_do_not_repeat(make_ctx, reports, tmp_path):
    drop, pattern = reports
    sensor = _sensor(make_ctx, pattern, tmp_path / "state")
    drop(CRASH)
    assert len(sensor.poll()) == 1
    drop(CRASH, retired=True)  # macOS moves old reports into Retired/
    restarted = _sensor(make_ctx, pattern, tmp_path / "state")
    assert restarted.poll() == []
    drop(LEGACY, folder=1)
    (event,) = restarted.poll()
    assert event.details["signal"] == "SIGABRT"


def test_a_broken_report_is_skipped_and_the_rest_still_reported(make_ctx, reports, caplog):
    drop, pattern = reports
    sensor = _sensor(make_ctx, pattern)
    drop("Broken-2026-11-22-000000.ips", text="{truncated")
    drop(HANG)
    (event,) = sensor.poll()
    assert event.app == "Pages"
    assert "Broken-2026-11-22-000000.ips" in caplog.text
