"""Shared helpers for sensor tests: a real SensorContext in a temporary state dir."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agent.activity import ActivityTracker
from agent.catalogue import Catalogue
from agent.context import SensorContext
from agent.state import RunState

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def make_ctx(tmp_path):
    """Build a SensorContext; ``apps`` is a list of App, ``boot_id_path`` fakes the boot id."""

    def build(apps=(), boot_id_path=None, state_dir=None):
        state = state_dir or tmp_path / "state"
        state.mkdir(parents=True, exist_ok=True)
        run_state = RunState(state, boot_id_path) if boot_id_path else RunState(state)
        return SensorContext(
            catalogue=Catalogue(list(apps)),
            state_dir=state,
            activity=ActivityTracker(),
            run_state=run_state,
            log=logging.getLogger("test-sensor"),
        )

    return build


@pytest.fixture
def fixtures_dir():
    """tests/agent/sensors/fixtures: recorded-format samples per OS."""
    return FIXTURES


@pytest.fixture
def poll_until():
    """Poll a sensor until ``predicate(all events so far)`` holds or a deadline passes; return the events."""
    return _poll_until


def _poll_until(sensor, predicate, timeout=15.0, interval=0.1):
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events.extend(sensor.poll())
        if predicate(events):
            return events
        time.sleep(interval)
    return events

