"""CPU cost of one poll of the remote_support sensor, on this machine's real process list.

Starts a RustDesk-like service (``rustdesk --server``) and session
(``rustdesk --cm``): small shell scripts named like them, so that a poll both
skips a service and follows a session. Then polls the sensor ``--polls``
times and prints the median and 95th percentile of the CPU time of one poll
(``time.thread_time``: the sensor's own thread, as the agent runs it), the
number of processes listed, and, for comparison, the same list taken with
``psutil.process_iter(["name"])``, the portable way the sensor uses on Windows
and macOS. The figures measured so far are in docs/sensors.md ("remote_support").

Usage: python3 bench/remote_support_scan.py [--polls 200]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _cpu import cpu_ms, summary  # noqa: E402  (bench/_cpu.py, beside this script)

from agent.activity import ActivityTracker  # noqa: E402
from agent.catalogue import Catalogue  # noqa: E402
from agent.context import SensorContext  # noqa: E402
from agent.sensors.remote_support import RemoteSupportConfig, RemoteSupportSensor  # noqa: E402
from agent.state import RunState  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=200, help="polls measured (default 200)")
    polls = parser.parse_args().polls

    with tempfile.TemporaryDirectory(prefix="hinder-bench-") as tmp:
        script = Path(tmp) / "rustdesk"
        script.write_text("#!/bin/sh\nread line\n")
        script.chmod(0o755)
        procs = [subprocess.Popen([str(script), arg], stdin=subprocess.PIPE) for arg in ("--server", "--cm")]
        try:
            ctx = SensorContext(Catalogue([]), Path(tmp), ActivityTracker(), RunState(Path(tmp)),
                                logging.getLogger("bench"))
            sensor = RemoteSupportSensor(RemoteSupportConfig(min_session_s=0), ctx)
            sensor.start()
            sensor.poll()  # the first poll reads the arguments of every candidate once
            costs = cpu_ms(sensor.poll, polls)
            sessions = len(sensor.close())  # what was open at the end: the session, not the service
            portable = cpu_ms(lambda: [p.info for p in psutil.process_iter(["name"])], polls)
        finally:
            for proc in procs:
                proc.stdin.close()
                proc.wait()
    print(f"processes on this machine: {len(psutil.pids())}; sessions followed: {sessions} (expected 1)")
    print(f"remote_support poll ({polls} polls): {summary(costs)}")
    print(f"psutil.process_iter(['name']) for comparison: {summary(portable)}")
    print(f"at the default interval of {RemoteSupportConfig().interval_s:g} s: "
          f"{statistics.median(costs) / RemoteSupportConfig().interval_s / 10:.4f} % of one core")


if __name__ == "__main__":
    main()
