"""Time to build the weekly report (JSON and HTML) for a week of a large fleet.

1. Fills a database (SQLite file by default, or --db URL) with one ISO week of
   the fleet simulator's data (``hinder.simulate.fleet.Fleet``: sites, departments,
   working hours, bad versions, flaky Wi-Fi, a site outage), stored through the
   collector's real ingest function (``Ingestor.store``: validation, one
   transaction per batch, the impact model's ingest hook) without HTTP, which
   would only add the time to send 10,000 devices' batches. The simulator
   makes about 22 events per device and week; ``--event-sets N`` adds the
   events of N-1 further seeds to the same devices (their heartbeats come from
   the first seed), so that 10,000 devices reach about 1M events.
2. Brings the impact model's aggregates up to date (``aggregates.refresh``, as
   the collectors' background refresher would have done during the week) and
   prints how long that took.
3. Times, --repeat times each, building the report dict from the database
   (``build_report``, no refresh) plus rendering it to JSON, and to HTML;
   prints the medians. Target: <= 3 s each at 10,000 devices / ~1M events.

A filled database is kept with --keep and reused with --reuse FILE.

Usage: python3 bench/report.py [--devices 10000] [--event-sets 5] [--repeat 3] [--db URL | --reuse FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from collector import aggregates  # noqa: E402
from collector.config import parse_config  # noqa: E402
from collector.db import make_engine  # noqa: E402
from collector.ingest import Ingestor  # noqa: E402
from collector.migrations import upgrade  # noqa: E402
from collector.report.build import build_report  # noqa: E402
from collector.report.render import render  # noqa: E402
from collector.report.week import week_label  # noqa: E402
from contract.records import Limits, make_batch  # noqa: E402
from hinder.simulate.fleet import Fleet  # noqa: E402


def _week_end() -> datetime:
    """Monday 00:00 UTC of this week: the simulated days are the last complete ISO week."""
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=timezone.utc)


def fill(engine, config, devices: int, event_sets: int, heartbeat_s: float, end: float) -> tuple[int, int]:
    """Store one simulated week; return (events, heartbeats) stored."""
    ingestor = Ingestor(engine, config)
    fleets = [Fleet(devices, 7, seed=seed, end=end, heartbeat_s=heartbeat_s) for seed in range(1, event_sets + 1)]
    limits = Limits()
    n_events = n_beats = 0
    t0 = time.perf_counter()
    for i, dev in enumerate(fleets[0].devices):
        events, beats = fleets[0].records(dev)
        for extra in fleets[1:]:
            events += extra.records(extra.devices[i])[0]
        events.sort(key=lambda e: e["start"])
        for start in range(0, max(len(events), len(beats)), limits.max_heartbeats):
            # slices of at most 500 records each: within the contract's batch limits
            batch = make_batch(dev.device_id, events[start:start + limits.max_heartbeats],
                               beats[start:start + limits.max_heartbeats], now=end + 600)
            ingestor.store(batch, now=end + 600)
        n_events += len(events)
        n_beats += len(beats)
        if (i + 1) % max(1, devices // 20) == 0:
            rate = n_events / (time.perf_counter() - t0)
            print(f"  stored {i + 1}/{devices} devices, {n_events:,} events, {n_beats:,} heartbeats ({rate:,.0f} events/s)",
                  flush=True)
    return n_events, n_beats


def _median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--event-sets", type=int, default=5, help="seeds whose events are stacked on the same devices")
    ap.add_argument("--heartbeat-s", type=float, default=900.0, help="simulated heartbeat interval")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", help="database URL to fill (default: a new SQLite file)")
    ap.add_argument("--reuse", help="SQLite file filled by an earlier run with --keep")
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file and print its path")
    args = ap.parse_args()

    end = _week_end()
    week = week_label((end - timedelta(days=7)).date())
    workdir = tempfile.mkdtemp(prefix="hinder-bench-report-")
    url = args.db or (f"sqlite:///{args.reuse}" if args.reuse else f"sqlite:///{workdir}/report.db")
    config = parse_config({"apps": [a for a in Fleet.apps_toml().split("[", 1)[1].split("]")[0].replace('"', "").split(", ")]},
                          overrides={"db": url}, env={})
    engine = make_engine(url, busy_timeout_s=60)
    upgrade(engine)
    if not args.reuse:
        print(f"filling {url}: {args.devices:,} devices, week {week}, {args.event_sets} event set(s)", flush=True)
        t0 = time.perf_counter()
        n_events, n_beats = fill(engine, config, args.devices, args.event_sets, args.heartbeat_s, end.timestamp())
        print(f"stored {n_events:,} events and {n_beats:,} heartbeats in {time.perf_counter() - t0:,.0f} s", flush=True)
        t0 = time.perf_counter()
        done = aggregates.refresh(engine, config, batch_size=500)
        print(f"aggregates refreshed: {done:,} device-days in {time.perf_counter() - t0:,.0f} s", flush=True)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in ("device", "event", "heartbeat", "lost_hourly", "active_hourly")}
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

    def build():
        return build_report(engine, config, week, refresh=False)

    t_dict, report = _median_time(build, args.repeat)
    t_json, _ = _median_time(lambda: render(build(), "json"), args.repeat)
    t_html, html = _median_time(lambda: render(build(), "html"), args.repeat)
    t_render_html, _ = _median_time(lambda: render(report, "html"), args.repeat)
    print(f"\nweek {week}: {report['totals']['devices']:,} reporting devices, {report['totals']['disruptions']:,} disruptions, "
          f"{report['totals']['lost_hours']:,.0f} h lost")
    print(f"report dict from the database  median {t_dict:6.2f} s")
    print(f"JSON report (build + render)   median {t_json:6.2f} s   target <= 3 s: {'ok' if t_json <= 3 else 'MISSED'}")
    print(f"HTML report (build + render)   median {t_html:6.2f} s   target <= 3 s: {'ok' if t_html <= 3 else 'MISSED'}"
          f"   ({len(html):,} bytes; rendering alone {t_render_html * 1000:.0f} ms)")
    engine.dispose()
    if args.keep and not args.db and not args.reuse:
        print(f"database kept: {workdir}/report.db (reuse with --reuse)")
    elif not args.db and not args.reuse:
        for name in os.listdir(workdir):
            os.remove(os.path.join(workdir, name))
        os.rmdir(workdir)


if __name__ == "__main__":
    main()
