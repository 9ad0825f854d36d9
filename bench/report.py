"""Time to build the weekly report (JSON and HTML) for a week of a large fleet.

1. Fills a database (SQLite file by default, or --db URL) with one ISO week of
   the fleet simulator's data through the collector's own ingest, then brings
   the figures up to date (bench/_fleet.py). The simulator makes about 22
   events per device and week; ``--event-sets N`` stacks the events of N seeds
   on the same devices, so that 10,000 devices reach about 1M events.
2. Times, --repeat times each, building the report dict from the database
   (``build_report``) plus rendering it to JSON, and to HTML; prints the
   medians. Target: <= 3 s each at 10,000 devices / ~1M events.

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
from _fleet import config as fleet_config  # noqa: E402  (bench/_fleet.py, beside this script)
from _fleet import fill  # noqa: E402

from collector.db import make_engine  # noqa: E402
from collector.migrations import upgrade  # noqa: E402
from collector.report.build import build_report  # noqa: E402
from collector.report.render import render  # noqa: E402
from collector.report.week import week_label  # noqa: E402


def _week_end() -> datetime:
    """Monday 00:00 UTC of this week: the simulated days are the last complete ISO week."""
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=timezone.utc)


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
    config = fleet_config(url)
    engine = make_engine(url, busy_timeout_s=60)
    upgrade(engine)
    if not args.reuse:
        print(f"filling {url}: {args.devices:,} devices, week {week}, {args.event_sets} event set(s)", flush=True)
        t0 = time.perf_counter()
        n_events, n_beats = fill(engine, config, args.devices, 7, end.timestamp(), event_sets=args.event_sets,
                                 heartbeat_s=args.heartbeat_s)
        print(f"stored {n_events:,} events and {n_beats:,} heartbeats and refreshed the figures in "
              f"{time.perf_counter() - t0:,.0f} s", flush=True)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in ("device", "event", "heartbeat", "lost_hourly", "active_hourly")}
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

    def build():
        return build_report(engine, config, week)

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
