"""End to end: a real process crashes on this machine and the crash is in the collector within 10 s."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from agent.sensors import SENSORS
from agent.sensors.crash_proc import CrashProcConfig, CrashProcSensor
from tests.conftest import AGENT_TOKEN, ROOT, hinder_env, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def crasher(test_program):
    return test_program("e2ecrash")


def test_a_segfault_reaches_the_collector_within_10_seconds(collector, crasher, tmp_path):
    reason = CrashProcSensor.unavailable(CrashProcConfig())
    if reason:
        pytest.skip(reason)
    config = tmp_path / "agent.toml"
    lines = ["[agent]", "upload_interval_s = 1", "heartbeat_interval_s = 5", "backoff_initial_s = 0.2",
             "[[apps]]", 'name = "Crasher"', f"executables = [{json.dumps(crasher.name)}]"]
    for name in SENSORS:
        lines += [f"[sensors.{name}]", f"enabled = {'true' if name == 'crash_proc' else 'false'}"]
    config.write_text("\n".join(lines) + "\n")
    log_path = tmp_path / "agent.log"
    with open(log_path, "wb") as log:
        agent = subprocess.Popen([sys.executable, "-m", "hinder", "agent", "run", "--config", str(config),
                                  "--state-dir", str(tmp_path / "state"), "--collector", collector.url],
                                 cwd=ROOT, env=hinder_env(HINDER_AGENT_TOKEN=AGENT_TOKEN),
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "crash source: process connector" in log_path.read_text(errors="replace"), 60,
                   what="the crash sensor to start")
        crashed_at = time.monotonic()
        proc = subprocess.run([str(crasher), "segv"])
        assert proc.returncode == -signal.SIGSEGV

        def arrived():
            return [e for e in collector.events() if e["type"] == "crash" and e["app"] == "Crasher"]

        (event,) = wait_until(arrived, 10, interval_s=0.2, what="the crash in GET /api/v1/events")
        assert time.monotonic() - crashed_at <= 10
        assert event["details"]["signal"] == "SIGSEGV" and event["details"]["exe"] == crasher.name
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
