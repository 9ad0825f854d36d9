"""CPU cost of one poll of the focus sensor, on a real X server with a real window manager.

Starts Xvfb and openbox, two real X clients (tests/agent/sensors/_x11_client.py)
whose executable is catalogued, and polls the sensor ``--polls`` times: first
with the same window in front (the usual case: a few X round trips, the
catalogue name cached for the process in front), then with the focus moved
to the other window before each poll (xdotool, outside the measured time: the
executable is read again each time). Prints the median and 95th percentile
of the CPU time of one poll (``time.thread_time``: the sensor's own thread, as
the agent runs it) and the share of one core at the default interval. The
figures measured so far are in docs/_draft_focus.md.

Usage: python3 bench/focus_poll.py [--polls 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _cpu import cpu_ms, summary  # noqa: E402  (bench/_cpu.py, beside this script)

from agent.activity import ActivityTracker  # noqa: E402
from agent.catalogue import App, Catalogue  # noqa: E402
from agent.context import SensorContext  # noqa: E402
from agent.sensors.focus import FocusConfig, FocusSensor  # noqa: E402
from agent.state import RunState  # noqa: E402
from tests.agent.sensors._xvfb import running_xvfb, wait_for_window_manager  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=200, help="polls measured per case (default 200)")
    polls = parser.parse_args().polls
    missing = [exe for exe in ("Xvfb", "openbox", "xdotool", "xprop") if not shutil.which(exe)]
    if missing:
        sys.exit(f"needs {', '.join(missing)} (Debian: xvfb openbox xdotool x11-utils)")

    with tempfile.TemporaryDirectory(prefix="hinder-bench-") as tmp, running_xvfb() as (display, _):
        env = {**os.environ, "DISPLAY": display}
        log = Path(tmp) / "openbox.log"
        procs = [subprocess.Popen(["openbox", "--sm-disable"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=log.open("w"))]
        try:
            wait_for_window_manager(display, procs[0], log)
            windows = []
            for _ in range(2):
                client = subprocess.Popen([sys.executable, "-m", "tests.agent.sensors._x11_client", display, "ping"],
                                          cwd=ROOT, stdout=subprocess.PIPE, text=True)
                procs.append(client)
                windows.append(int(client.stdout.readline()))

            def activate(i: int) -> None:
                subprocess.run(["xdotool", "windowactivate", "--sync", str(windows[i % 2])], env=env, check=True,
                               capture_output=True, timeout=20)

            exe = os.path.basename(os.path.realpath(sys.executable))
            ctx = SensorContext(Catalogue([App(name="Python", executables=[exe])]), Path(tmp), ActivityTracker(),
                                RunState(Path(tmp)), logging.getLogger("bench"))
            ctx.activity.mark_active(time.time() - 60, time.time() + 3600)
            config = FocusConfig(display=display)
            sensor = FocusSensor(config, ctx)
            sensor.start()
            activate(0)
            sensor.poll()  # connects to the display
            same = cpu_ms(sensor.poll, polls)
            seen = sensor._app_in_front(time.time())
            moving = cpu_ms(sensor.poll, polls, before_each=activate)
            sensor.close()
        finally:
            for proc in procs:
                proc.kill()
                proc.wait(10)
    print(f"application in front: {seen} (expected Python)")
    print(f"focus poll, same window in front ({polls} polls): {summary(same)}")
    print(f"focus poll, focus moved before each poll ({polls} polls): {summary(moving)}")
    print(f"at the default interval of {config.interval_s:g} s: "
          f"{statistics.median(same) / config.interval_s / 10:.4f} % of one core")


if __name__ == "__main__":
    main()
