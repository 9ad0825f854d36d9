"""/metrics scrape time at fleet scale: 10,000 devices, a week of events, 100k then 1M events.

For each size it fills a fresh database (SQLite by default, or ``--pg-url``
for an empty PostgreSQL server database) with the same simulated fleet
through the collector's own ingest and refresh (bench/_fleet.py): the week
ending now, with the disruption rates scaled so that the fleet holds about
that many events.

Then it starts the real collector (`python -m hinder collector serve`, one
uvicorn process) on that database and times GET /metrics with httpx: 3
warm-up scrapes, then the median and worst of ``--scrapes``. Prints both
sizes, the ratio (flat = about 1) and the verdict against the target
(<= 100 ms at 1M events).

``--hostile DEVICES,VERSIONS`` adds what hostile or broken agents can send
(issue 12): that many devices each with its own random site, department, OS
and agent version, and that many distinct versions of one catalogued app.
/metrics must stay bounded however many there are.

Usage: python3 bench/scrape.py [--devices 10000] [--sizes 100000,1000000] [--scrapes 15] [--pg-url URL]
                               [--hostile DEVICES,VERSIONS]
                               [--workdir DIR]  (reuses the SQLite files already built there)
"""

from __future__ import annotations

import argparse
import os
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

from _fleet import config as fleet_config  # noqa: E402  (bench/_fleet.py, beside this script)
from _fleet import fill, fill_hostile  # noqa: E402

from collector.db import make_engine  # noqa: E402
from collector.migrations import upgrade  # noqa: E402

TOKEN_AGENT, TOKEN_ADMIN = "bench-agent-token-1", "bench-admin-token-1"
EVENTS_PER_DEVICE_WEEK = 22.0  # what the simulated fleet makes at event_scale 1


def build(url: str, devices: int, events: int, hostile: tuple[int, int] = (0, 0)) -> dict:
    """Fill an empty database with the fleet's week ending now (and the hostile devices and versions); return row
    counts."""
    engine = make_engine(url, busy_timeout_s=60)
    upgrade(engine)
    scale = min(100.0, max(0.01, events / devices / EVENTS_PER_DEVICE_WEEK))
    now = time.time()
    n_events, n_beats = fill(engine, fleet_config(url), devices, 7, now, event_scale=scale)
    if any(hostile):
        fill_hostile(engine, fleet_config(url), *hostile, end=now)
    counts = {"events": n_events, "heartbeats": n_beats}
    with engine.connect() as conn:
        for table in ("lost_hourly", "active_hourly", "lost_rollup", "lost_daily", "active_daily", "impact_total",
                      "device", "disruption_count", "app_version_count"):
            counts[table] = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return counts


def scrape_times(url: str, scrapes: int, workdir: Path) -> tuple[list[float], int, int]:
    """Start the collector on the database and time GET /metrics; return seconds per scrape, body size and series."""
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
        series = sum(1 for line in r.text.splitlines() if line and not line.startswith("#"))
        return times, size, series
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
    ap.add_argument("--pg-url", help="postgresql+psycopg://USER@HOST:PORT/postgres (databases are created in it)")
    ap.add_argument("--hostile", default="0,0", help="DEVICES,VERSIONS with random labels and distinct versions")
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
            counts = build(url, args.devices, size, tuple(int(n) for n in args.hostile.split(",")))
            print(f"  built in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        times, body, series = scrape_times(url, args.scrapes, workdir)
        med = statistics.median(times)
        results.append((size, med))
        print(f"  /metrics: median {med * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms over {len(times)} scrapes, "
              f"{body / 1024:.0f} KiB, {series} series")
    if len(results) >= 2:
        (small, t_small), (large, t_large) = results[0], results[-1]
        print(f"ratio {large}/{small} events: {t_large / t_small:.2f} (1.00 = flat in history size)")
    size, med = results[-1]
    print(f"target <= 100 ms at {size} events: {'met' if med <= 0.1 else 'NOT met'} ({med * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
