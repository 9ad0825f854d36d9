"""End to end: a real process crashes on this machine and the crash is in the collector within 10 s."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from agent.sensors.crash_proc import CrashProcConfig, CrashProcSensor
from tests.conftest import crash_agent, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def crasher(test_program):
    return test_program("e2ecrash")


def test_a_segfault_reaches_the_collector_within_10_seconds(collector, crasher, tmp_path):
    reason = CrashProcSensor.unavailable(CrashProcConfig())
    if reason:
        pytest.skip(reason)
    apps = f'[[apps]]\nname = "Crasher"\nexecutables = [{json.dumps(crasher.name)}]'
    with crash_agent(tmp_path, collector.url, apps):
        crashed_at = time.monotonic()
        proc = subprocess.run([str(crasher), "segv"])
        assert proc.returncode == -signal.SIGSEGV

        def arrived():
            return [e for e in collector.events() if e["type"] == "crash" and e["app"] == "Crasher"]

        (event,) = wait_until(arrived, 10, interval_s=0.2, what="the crash in GET /api/v1/events")
        assert time.monotonic() - crashed_at <= 10
        assert event["details"]["signal"] == "SIGSEGV" and event["details"]["exe"] == crasher.name
