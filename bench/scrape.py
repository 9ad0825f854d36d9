"""/metrics scrape time at fleet scale: 10,000 devices, a week of events, 100k then 1M events.

For each size it builds a fresh database (SQLite by default, or ``--pg-url``
for an empty PostgreSQL server database) holding the same fleet: devices in
10 sites x 8 departments x 3 OSes, hourly heartbeats in working
hours, and N events spread over the trailing week (types, durations, causes
and versions drawn like a real fleet). Rows are written directly, not through
HTTP, to keep the set-up short; the derived tables are produced by the same
code ingest and the refresher run (``aggregates.count_on_arrival``, ``impact.device_hours`` per device-day,
``aggregates.hourly_rows`` and ``Contributions``), so they are the tables
ingest would have built.

Then it starts the real collector (`python -m hinder collector serve`, one
uvicorn process) on that database and times GET /metrics with httpx: 3
warm-up scrapes, then the median and worst of ``--scrapes``. Prints both
sizes, the ratio (flat = about 1) and the verdict against the target
(<= 100 ms at 1M events).

Usage: python3 bench/scrape.py [--devices 10000] [--sizes 100000,1000000] [--scrapes 15] [--pg-url URL]
                               [--workdir DIR]  (reuses the SQLite files already built there)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from _serve import free_port, wait_http  # bench/_serve.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector import aggregates, impact  # noqa: E402
from collector.config import parse_config  # noqa: E402
from collector.db import make_engine  # noqa: E402
from collector.ingest import IngestedBatch  # noqa: E402
from collector.migrations import upgrade  # noqa: E402
from collector.models import active_hourly_table, device_table, event_table, heartbeat_table, lost_hourly_table  # noqa: E402
from contract.records import new_id  # noqa: E402

SITES = ("Paris", "Lyon", "Berlin", "Madrid", "London", "Milan", "Warsaw", "Lisbon", "Vienna", "Prague")
DEPARTMENTS = ("Finance", "Sales", "HR", "IT", "Legal", "Marketing", "Operations", "Support")
OSES = ("windows", "windows", "windows", "macos", "linux")
APPS = ("outlook", "teams", "excel", "word", "sap", "salesforce", "chrome", "firefox", "zoom", "slack")
TYPES = (("slow_app", 30), ("connectivity_degraded", 15), ("hang", 15), ("slow_system", 10), ("crash", 10),
         ("connectivity_loss", 8), ("app_unavailable", 5), ("abnormal_exit", 5), ("unexpected_shutdown", 1), ("test", 1))
CAUSES = ("no_link", "dns_failure", "internet_unreachable", "captive_portal", "target_unreachable")
TOKEN_AGENT, TOKEN_ADMIN = "bench-agent-token-1", "bench-admin-token-1"
HB_STEP = 3600.0  # hourly heartbeats keep the set-up short; a scrape reads no heartbeat
CHUNK = 250  # devices written per transaction


def _working_intervals(rnd: random.Random, week_start: float) -> list[tuple[float, float]]:
    """(start, end) of each working day of one device in the week."""
    out = []
    for d in range(7):
        day = week_start + d * 86400
        if time.gmtime(day).tm_wday >= 5:
            continue
        start = day + 7 * 3600 + rnd.randrange(0, 4) * HB_STEP
        out.append((start, start + 9 * 3600))
    return out


def _event(rnd: random.Random, dev_id: str, t: float, now: float) -> dict:
    type_ = rnd.choices([t_ for t_, _ in TYPES], [w for _, w in TYPES])[0]
    app = rnd.choice(APPS) if rnd.random() < 0.9 else f"tool{rnd.randrange(40)}"
    details: dict = {"app_version": f"{rnd.randrange(1, 4)}.{rnd.randrange(3)}"}
    dur = 0.0
    if type_ in ("hang", "app_unavailable"):
        dur = rnd.uniform(5, 300)
    elif type_ in ("connectivity_loss",):
        dur, app = rnd.uniform(5, 1200), "network"
        details = {"cause": rnd.choice(CAUSES)}
    elif type_ in ("slow_app", "slow_system", "connectivity_degraded"):
        dur = rnd.uniform(5, 900)
        details["excess_s"] = round(dur * rnd.uniform(0.05, 0.5), 1)
        if type_ != "slow_app":
            app = "system" if type_ == "slow_system" else "network"
    elif type_ == "unexpected_shutdown":
        dur, app = rnd.uniform(60, 600), "host"
    active = None if rnd.random() < 0.3 else dur * rnd.uniform(0.3, 1.0)
    return {"id": new_id(t), "device_id": dev_id, "type": type_, "app": app, "start": t, "duration_s": dur,
            "end": t + dur, "severity": "warning", "active_s": active, "details": details, "received_at": now}


def build(url: str, devices: int, events: int, seed: int) -> dict:
    """Fill an empty database with the fleet; return row counts."""
    engine = make_engine(url)
    upgrade(engine)
    config = parse_config({"apps": list(APPS)}, env={})
    cfg = aggregates.model_config(config)
    now = time.time()
    week_start = (now // 3600) * 3600 - 7 * 86400 + 3600
    per_device = events // devices
    counts = {"events": 0, "heartbeats": 0}
    rnd_all = random.Random(seed)
    for first in range(0, devices, CHUNK):
        dev_rows, ev_rows, hb_rows, lost_rows, active_rows, batches = [], [], [], [], [], []
        for i in range(first, min(devices, first + CHUNK)):
            rnd = random.Random(rnd_all.random())
            dev_id = f"bench-device-{i:06d}"
            labels = (SITES[i % len(SITES)], DEPARTMENTS[(i // len(SITES)) % len(DEPARTMENTS)], OSES[i % len(OSES)])
            days = _working_intervals(rnd, week_start)
            hbs = []
            for s, e in days:
                t = s
                while t < e:
                    t += HB_STEP
                    hbs.append({"id": new_id(t), "device_id": dev_id, "time": t, "interval_s": HB_STEP,
                                "active_s": HB_STEP * rnd.uniform(0.3, 1.0)})
            evs = sorted((_event(rnd, dev_id, rnd.uniform(*rnd.choice(days)), now) for _ in range(per_device)),
                         key=lambda r: r["start"])
            dev = {"id": dev_id, "first_seen": week_start, "last_seen": now - rnd.uniform(0, 600),
                   "last_heartbeat": hbs[-1]["time"], "os": labels[2], "os_version": "10", "agent_version":
                   f"0.{rnd.randrange(1, 4)}.0", "site": labels[0], "department": labels[1],
                   "spool_dropped_total": 0, "rejected_total": 0, "sensor_errors_total": 0, "clock_skew_s": 0.0,
                   "last_details": {}}
            dev_rows.append(dev)
            ev_rows += evs
            hb_rows += hbs
            batches.append(IngestedBatch(device=dev, events=evs, heartbeats=hbs, config=config, received_at=now))
            disruptions = [aggregates.to_disruption(e) for e in evs]
            intervals = [impact.Interval(h["time"], h["interval_s"], h["active_s"]) for h in hbs]
            day = aggregates._day
            spans = [impact.event_span(e, cfg) for e in disruptions]
            touched = sorted({d for s, e in spans for d in range(day(s), day(max(s, e)) + 1, 86400)}
                             | {day(h["time"]) for h in hbs})
            for day in touched:
                hours = impact.device_hours(disruptions, intervals, cfg, window=(day, day + 86400))
                lost, active = aggregates.hourly_rows(dev_id, labels, hours)
                lost_rows += lost
                active_rows += active
        contributions = aggregates.Contributions(config)
        contributions.add(lost_rows, active_rows, +1)
        with engine.begin() as conn:
            conn.execute(device_table.insert(), dev_rows)
            conn.execute(event_table.insert(), ev_rows)
            conn.execute(heartbeat_table.insert(), hb_rows)
            if lost_rows:
                conn.execute(lost_hourly_table.insert(), lost_rows)
            conn.execute(active_hourly_table.insert(), active_rows)
            contributions.apply(conn, now)
            for b in batches:
                aggregates.count_on_arrival(conn, b)
        counts["events"] += len(ev_rows)
        counts["heartbeats"] += len(hb_rows)
        print(f"  {min(devices, first + CHUNK)}/{devices} devices, {counts['events']} events", end="\r", flush=True)
    print()
    with engine.connect() as conn:
        for table in ("lost_hourly", "active_hourly", "lost_rollup", "lost_daily", "active_daily", "impact_total"):
            counts[table] = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return counts


def scrape_times(url: str, scrapes: int, workdir: Path) -> tuple[list[float], int]:
    """Start the collector on the database and time GET /metrics; return seconds per scrape and body size."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(workdir / f"collector-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "hinder", "collector", "serve", "--db", url, "--port", str(port),
                             "--agent-token", TOKEN_AGENT, "--admin-token", TOKEN_ADMIN],
                            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", proc, f"the collector (log: {log.name})", timeout_s=120)
        with httpx.Client(timeout=60) as client:
            for _ in range(3):
                client.get(f"{base}/metrics").raise_for_status()
            times, size = [], 0
            for _ in range(scrapes):
                t0 = time.perf_counter()
                r = client.get(f"{base}/metrics")
                times.append(time.perf_counter() - t0)
                r.raise_for_status()
                size = len(r.content)
        return times, size
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _pg_database(server_url: str, name: str) -> str:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return str(sa.make_url(server_url).set(database=name).render_as_string(hide_password=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--sizes", default="100000,1000000", help="event counts, comma-separated")
    ap.add_argument("--scrapes", type=int, default=15)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pg-url", help="postgresql+psycopg://USER@HOST:PORT/postgres (databases are created in it)")
    ap.add_argument("--workdir", type=Path, help="keep the SQLite files here and reuse those already built")
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hinder-bench-scrape-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        url = (_pg_database(args.pg_url, f"bench_scrape_{size}") if args.pg_url
               else f"sqlite:///{workdir / f'scrape-{size}.db'}")
        if args.workdir and not args.pg_url and (workdir / f"scrape-{size}.db").exists():
            print(f"reusing {workdir / f'scrape-{size}.db'}")
        else:
            print(f"building {args.devices} devices, {size} events ({url.split(':')[0]}) ...")
            t0 = time.perf_counter()
            counts = build(url, args.devices, size, args.seed)
            print(f"  built in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        times, body = scrape_times(url, args.scrapes, workdir)
        med = statistics.median(times)
        results.append((size, med))
        print(f"  /metrics: median {med * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms over {len(times)} scrapes, "
              f"{body / 1024:.0f} KiB")
    if len(results) >= 2:
        (small, t_small), (large, t_large) = results[0], results[-1]
        print(f"ratio {large}/{small} events: {t_large / t_small:.2f} (1.00 = flat in history size)")
    size, med = results[-1]
    print(f"target <= 100 ms at {size} events: {'met' if med <= 0.1 else 'NOT met'} ({med * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
