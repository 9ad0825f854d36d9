"""What the collector benchmarks share: a database filled with a simulated fleet through the collector's own ingest.

The fleet comes from the simulator (``hinder.simulate.fleet.Fleet``: sites,
departments, working hours, bad versions, flaky Wi-Fi, a site outage); its
batches are stored with ``Ingestor.store`` (validation, one transaction per
batch, the impact model's ingest hook) without HTTP, which would only add the
time to send them, and the figures are brought up to date with ``refresh``, as
the collectors' background refresher would have done. The tables are those
ingest builds, because ingest built them.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.aggregates import marks  # noqa: E402
from collector.aggregates.refresh import refresh  # noqa: E402
from collector.config import CollectorConfig, parse_config  # noqa: E402
from collector.ingest import Ingestor  # noqa: E402
from contract.records import Event, Heartbeat, Limits, make_batch  # noqa: E402
from hinder.simulate.fleet import Fleet  # noqa: E402


def config(url: str) -> CollectorConfig:
    """A collector config for ``url`` whose catalogue is the simulated fleet's applications."""
    return parse_config({"apps": Fleet.app_names()}, overrides={"db": url}, env={})


def fill(engine, config: CollectorConfig, devices: int, days: float, end: float, event_sets: int = 1,
         event_scale: float = 1.0, heartbeat_s: float = 900.0, progress: bool = True) -> tuple[int, int]:
    """Store ``days`` of a simulated fleet ending at ``end``, then refresh the figures; return (events, heartbeats).

    ``event_sets`` stacks the events of that many seeds on the same devices (their heartbeats come from the
    first seed), for a history larger than one fleet makes.
    """
    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
    fleets = [Fleet(devices, days, seed=seed, end=end, heartbeat_s=heartbeat_s, event_scale=event_scale)
              for seed in range(1, event_sets + 1)]
    per_batch = Limits().max_heartbeats  # slices of at most 500 records of each kind: within the batch limits
    n_events = n_beats = 0
    t0 = time.perf_counter()
    for i, dev in enumerate(fleets[0].devices):
        events, beats, *_ = fleets[0].records(dev)
        for extra in fleets[1:]:
            events += extra.records(extra.devices[i])[0]
        events.sort(key=lambda e: e["start"])
        for start in range(0, max(len(events), len(beats)), per_batch):
            batch = make_batch(dev.device_id, events[start:start + per_batch], beats[start:start + per_batch],
                               now=end)
            ingestor.store(batch, now=end)
        n_events += len(events)
        n_beats += len(beats)
        if progress and (i + 1) % max(1, devices // 20) == 0:
            rate = n_events / (time.perf_counter() - t0)
            print(f"  stored {i + 1}/{devices} devices, {n_events:,} events, {n_beats:,} heartbeats "
                  f"({rate:,.0f} events/s)", flush=True)
    t0 = time.perf_counter()
    done = refresh(engine, config, batch_size=500, now=end)
    if progress:
        print(f"  figures refreshed: {done:,} device-days in {time.perf_counter() - t0:,.0f} s", flush=True)
    return n_events, n_beats


def fill_hostile(engine, config: CollectorConfig, devices: int, versions: int, end: float) -> None:
    """Add what hostile or broken agents can send: ``devices`` devices each with its own random site, department,
    OS and agent version (a heartbeat and a crash each), and ``versions`` distinct versions of one catalogued app."""
    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
    rng = random.Random(4052)
    app = config.apps[0]
    for i in range(devices):
        site, department, os_name, version = (f"{name}-{rng.getrandbits(48):x}" for name in ("s", "d", "os", "v"))
        beat = Heartbeat(time=end - 30, interval_s=60.0, active_s=30.0, os=os_name, os_version="1",
                         agent_version=version, site=site, department=department).to_wire()
        crash = Event(type="crash", app=app, start=end - 60, details={"app_version": f"1.{i}"}).to_wire()
        ingestor.store(make_batch(f"hostile-{i:06d}", [crash], [beat], now=end), now=end)
    per_batch = Limits().max_heartbeats
    for start in range(0, versions, per_batch):
        crashes = [Event(type="crash", app=app, start=end - 120, details={"app_version": f"2.{k}"}).to_wire()
                   for k in range(start, min(versions, start + per_batch))]
        ingestor.store(make_batch("hostile-versions", crashes, [], now=end), now=end)
    refresh(engine, config, batch_size=500, now=end)
