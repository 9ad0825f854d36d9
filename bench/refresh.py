"""Steady-state cost of the impact refresh: one new heartbeat per device, late in a busy day.

Fills a fresh SQLite database (through the collector's real ingest) with D
devices that each have a day of one-minute heartbeats (23 h) and an event
every hour, brings the aggregates up to date, then --rounds times: stores one
new heartbeat per device (as each agent does every minute) and times
``refresh``. Prints the median milliseconds per device-day
refreshed, and what that means for a fleet of 10,000 devices with one-minute
heartbeats (devices / 60 refreshes per second). With --tickets N, each device
also has N open work-stopping service-desk tickets opened in the last hours of
the day (impact model version 2: their contact and wait reach the new
heartbeats' hours).

Usage: python3 bench/refresh.py [--devices 50] [--rounds 5] [--tickets 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.aggregates import marks  # noqa: E402
from collector.aggregates.refresh import refresh  # noqa: E402
from collector.config import parse_config  # noqa: E402
from collector.db import make_engine  # noqa: E402
from collector.ingest import Ingestor  # noqa: E402
from collector.migrations import upgrade  # noqa: E402
from collector.db import write_transaction  # noqa: E402
from collector.support.store import store_tickets  # noqa: E402
from collector.support.tickets import Ticket  # noqa: E402
from contract import records  # noqa: E402

HEARTBEATS = 23 * 60  # one a minute from 00:00 to 23:00


def _heartbeat(t: float, key: str) -> dict:
    return records.Heartbeat(time=t, interval_s=60.0, active_s=45.0, os="linux", os_version="6.1",
                          agent_version="0.1.0", site="Paris", department="Finance", host_key=key).to_wire()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tickets", type=int, default=0, help="open work-stopping tickets per device")
    args = ap.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp(prefix='hinder-bench-refresh-')}/refresh.db"
    engine = make_engine(url)
    upgrade(engine)
    config = parse_config({"apps": ["erp"]}, overrides={"db": url}, env={})
    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
    now = time.time()
    day = int(now // 86400 * 86400) - 86400  # yesterday: a whole day is in the past
    devices = [f"bench-refresh-{i:05d}" for i in range(args.devices)]
    keys = {dev: f"{i:032x}" for i, dev in enumerate(devices)}  # the devices' host keys (contract.identity)
    for dev in devices:
        beats = [_heartbeat(day + 60 * (i + 1), keys[dev]) for i in range(HEARTBEATS)]
        events = [records.Event(type="hang", app="erp", start=day + 3600 * h + 100, duration_s=30,
                             active_s=20).to_wire() for h in range(23)]
        for k in range(0, len(beats), 400):
            ingestor.store(records.make_batch(dev, events if k == 0 else [], beats[k:k + 400], now=now), now=now)
    tickets = [Ticket("bench", f"{dev}-{k}", opened, opened, channel="phone", work_stopping=True, host_key=keys[dev])
               for dev in devices for k in range(args.tickets) for opened in [day + (22 - k % 20) * 3600.0 + 300]]
    with write_transaction(engine) as conn:
        store_tickets(conn, tickets, now=now, model=config.sections.get("model"))
    refresh(engine, config)
    per_day = []
    for r in range(args.rounds):
        for dev in devices:
            beat = _heartbeat(day + 60 * (HEARTBEATS + 1 + r), keys[dev])
            ingestor.store(records.make_batch(dev, [], [beat], now=now), now=now)
        t0 = time.perf_counter()
        done = refresh(engine, config)
        per_day.append((time.perf_counter() - t0) / done * 1000)
    ms = statistics.median(per_day)
    print(f"{args.devices} devices, {HEARTBEATS} one-minute heartbeats, 23 events and {args.tickets} open tickets "
          f"each in the day, then one new heartbeat per device, {args.rounds} rounds")
    print(f"refresh: median {ms:.2f} ms per device-day (rounds: {', '.join(f'{x:.2f}' for x in per_day)})")
    print(f"10,000 devices with one-minute heartbeats: {10_000 / 60 * ms / 1000:.2f} CPU cores for the refresh")


if __name__ == "__main__":
    main()
