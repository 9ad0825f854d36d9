"""Unexpected shutdown: boot changes faked through the boot id file and the state dir's run.json."""

from __future__ import annotations

import json
import uuid

import pytest

from agent.sensors.base import SensorConfig
from agent.sensors.shutdown import ShutdownSensor, boot_time
from contract.check import validate_batch
from contract.records import make_batch


@pytest.fixture
def machine(tmp_path, make_ctx):
    """Start the agent on a fake boot: returns start(boot) -> the events of the sensor's first poll."""
    boot_file = tmp_path / "boot_id"
    state = tmp_path / "state"

    def start(boot: str):
        boot_file.write_text(boot + "\n")
        ctx = make_ctx(boot_id_path=str(boot_file), state_dir=state)
        sensor = ShutdownSensor(SensorConfig(), ctx)
        sensor.start()
        return list(sensor.poll()) + list(sensor.poll()), ctx

    return start, state


def _set_last_alive(state, when: float, clean: bool = False) -> None:
    path = state / "run.json"
    record = json.loads(path.read_text())
    record.update(last_alive=when, clean_stop=clean)
    path.write_text(json.dumps(record))


def test_reboot_without_clean_stop_reports_once_with_downtime(machine):
    start, state = machine
    events, _ = start(str(uuid.uuid4()))
    assert events == []  # first run ever: nothing to compare with
    booted = boot_time()
    _set_last_alive(state, booted - 600)  # the agent was last alive 10 minutes before this boot
    events, _ = start(str(uuid.uuid4()))
    (event,) = events
    assert event.type == "unexpected_shutdown" and event.severity == "critical"
    assert event.start == pytest.approx(booted - 600)
    assert event.duration_s == pytest.approx(600, abs=1)
    assert event.details["source"] == "run_record"
    validate_batch(make_batch("device-0001", [event.to_wire()], []))
    events, _ = start(_same_boot(state))
    assert events == []  # reported once, not again at the next start


def _same_boot(state) -> str:
    return json.loads((state / "run.json").read_text())["boot_id"]


def test_clean_stop_then_reboot_is_not_unexpected(machine):
    start, _ = machine
    _, ctx = start(str(uuid.uuid4()))
    ctx.run_state.stopped_cleanly()
    events, _ = start(str(uuid.uuid4()))
    assert events == []


def test_agent_crash_without_reboot_is_not_a_shutdown(machine):
    start, _ = machine
    boot = str(uuid.uuid4())
    start(boot)  # the agent dies here without stopping cleanly
    events, _ = start(boot)
    assert events == []


def test_downtime_is_never_negative(machine):
    start, state = machine
    start(str(uuid.uuid4()))
    _set_last_alive(state, boot_time() + 3600)  # a clock that jumped: last alive "after" the boot
    (event,), _ = start(str(uuid.uuid4()))
    assert event.duration_s == 0.0
