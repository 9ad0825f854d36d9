"""The event log sensor's bookmark and routing, with wevtutil's output served from fixtures.

wevtutil cannot run here; the two thin methods that call it are replaced by a
small in-memory event log that applies the same filter (ids, record id > bookmark).
"""

from __future__ import annotations

import re

import pytest

from agent.catalogue import App
from agent.sensors._helpers import parse_windows_events as winevt
from agent.sensors.eventlog import EventLogConfig, EventLogSensor
from agent.sensors.hang_windows import HangWindowsConfig


class FixtureEventLog:
    """Channels of event XML; answers queries the way wevtutil qe /q:... does."""

    def __init__(self):
        self.channels: dict[str, list[str]] = {"Application": [], "System": []}

    def append(self, channel: str, xml_text: str) -> None:
        self.channels[channel] += re.findall(r"<Event .*?</Event>", xml_text, flags=re.DOTALL)

    def query(self, channel, ids, after, count):
        picked = [x for x in self.channels[channel]
                  if (r := winevt.parse_events(x)[0]).event_id in ids and r.record_id > after]
        return "\n".join(picked[:count])

    def newest(self, channel):
        ids = [winevt.parse_events(x)[0].record_id for x in self.channels[channel]]
        return max(ids, default=0)


@pytest.fixture
def log():
    return FixtureEventLog()


@pytest.fixture
def make_sensor(make_ctx, log):
    def build(ctx=None, **config):
        ctx = ctx or make_ctx(apps=[App(name="Excel", executables=["EXCEL.EXE"])])
        ctx.sensors.setdefault("hang_windows", HangWindowsConfig())
        sensor = EventLogSensor(EventLogConfig(**config), ctx)
        sensor._query = log.query
        sensor._newest = log.newest
        return sensor

    return build


def _fixture(fixtures_dir, name):
    return (fixtures_dir / "windows" / name).read_text(encoding="utf-8")


def test_history_before_the_first_start_is_not_reported(log, make_sensor, fixtures_dir):
    log.append("Application", _fixture(fixtures_dir, "application_1000.xml"))
    sensor = make_sensor()
    sensor.start()
    assert sensor.poll() == []


def test_new_records_are_reported_once_across_restarts(log, make_sensor, make_ctx, fixtures_dir):
    sensor = make_sensor()
    sensor.start()
    log.append("Application", _fixture(fixtures_dir, "application_1000.xml"))
    log.append("Application", _fixture(fixtures_dir, "application_unrelated.xml"))
    first = sensor.poll()
    assert [(e.type, e.app) for e in first] == [("crash", "Excel"), ("crash", "legacyapp.exe")]
    assert sensor.poll() == []
    log.append("Application", _fixture(fixtures_dir, "application_1026.xml"))
    restarted = make_sensor(make_ctx(apps=[]))  # same state dir: the bookmark survives
    restarted.start()
    assert [e.details["event_id"] for e in restarted.poll()] == [1026]


def test_hang_1002_only_when_the_window_hang_sensor_is_off(log, make_sensor, make_ctx, fixtures_dir):
    sensor = make_sensor()
    sensor.start()
    log.append("Application", _fixture(fixtures_dir, "application_1002.xml"))
    assert sensor.poll() == []  # hang_windows is on and measures the hang with its duration
    ctx = make_ctx()
    ctx.sensors["hang_windows"] = HangWindowsConfig(enabled=False)
    log.channels["Application"].clear()
    standalone = make_sensor(ctx)
    standalone.start()
    log.append("Application", _fixture(fixtures_dir, "application_1002.xml").replace(">48302<", ">48400<"))
    (hang,) = standalone.poll()
    assert hang.type == "hang" and hang.details["ended"] == "killed"


def test_system_channel_gives_merged_unexpected_shutdowns(log, make_sensor, fixtures_dir):
    sensor = make_sensor()
    sensor.start()
    log.append("System", _fixture(fixtures_dir, "system_shutdowns.xml"))
    events = sensor.poll()
    assert [e.details["event_ids"] for e in events] == [[41, 1001, 6008], [41]]


def test_a_cleared_log_resets_the_bookmark(log, make_sensor, make_ctx, fixtures_dir):
    log.append("Application", _fixture(fixtures_dir, "application_1026.xml"))  # record 48377
    sensor = make_sensor()
    sensor.start()
    log.channels["Application"] = []  # the administrator clears the log: record ids restart low
    log.append("Application", _fixture(fixtures_dir, "application_1000.xml").replace(">48211<", ">5<").replace(">48230<", ">6<"))
    restarted = make_sensor(make_ctx())
    restarted.start()
    log.append("Application", _fixture(fixtures_dir, "application_1026.xml").replace(">48377<", ">7<"))
    assert [e.details["event_id"] for e in restarted.poll()] == [1026]
