"""Run one sensor outside pytest (e.g. inside a network namespace) and print what it reports.

Usage: python -m tests.agent.sensors._harness SENSOR 'JSON sensor config' ['JSON list of [[apps]] tables']
Prints one JSON line per poll (``{"tick": n}``) and per event (``{"event": ...}``);
when stdin closes it calls ``close()``, prints the final events and exits.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

from agent.activity import ActivityTracker
from agent.catalogue import App, Catalogue
from agent.context import SensorContext
from agent.sensors import SENSORS
from agent.state import RunState
from contract.settings import load_section


def main() -> None:
    name, raw = sys.argv[1], json.loads(sys.argv[2])
    cls = SENSORS[name]
    config = load_section(cls.Config, raw, f"sensors.{name}")
    apps = [load_section(App, a, f"apps[{i}]") for i, a in enumerate(json.loads(sys.argv[3]))] if len(sys.argv) > 3 else []
    state = Path(tempfile.mkdtemp(prefix="hinder-harness-"))
    ctx = SensorContext(Catalogue(apps), state, ActivityTracker(), RunState(state), logging.getLogger(name))
    sensor = cls(config, ctx)
    sensor.start()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    tick = 0
    while not stop.is_set():
        for event in sensor.poll():
            print(json.dumps({"event": event.to_wire()}), flush=True)
        tick += 1
        print(json.dumps({"tick": tick, "time": time.time(), "heartbeat": ctx.heartbeat_details}), flush=True)
        stop.wait(config.interval_s)
    for event in sensor.close() or ():
        print(json.dumps({"event": event.to_wire()}), flush=True)


if __name__ == "__main__":
    main()
