"""Collector ingest rate beside the raw insert rate of the same database, measured in one run.

1. Starts a real collector (`python -m hinder collector serve`, one uvicorn
   process, a fresh SQLite file) and sends N gzip batches of E events (plus
   one heartbeat each) from C concurrent HTTP clients that honour 503/429
   with Retry-After like agents; prints sustained events/s (bodies are
   prepared before the clock starts). Twice: as deployed (with the impact
   refresh running in the same process) and with ``background_jobs = false``
   (the ingest path alone).
2. Inserts the same rows with the stdlib sqlite3 driver's ``executemany``,
   one transaction per batch, into a fresh SQLite file with the same schema
   (created by the same migrations), the same pragmas (WAL,
   synchronous=NORMAL); prints events/s.
3. Inserts them again with the collector's own ``db.insert_rows`` (multi-row
   INSERTs, what ingest uses), alone, for reference.
4. Prints the ratios. Target: ingest >= 50% of the raw executemany rate.
   Each run measures raw executemany between its two HTTP measurements, so
   that a noisy machine slows both sides of a ratio alike.

Usage: python3 bench/ingest.py [--batches 200] [--events 1000] [--clients 4] [--repeat 3]
Each figure is the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _serve import free_port, wait_http  # bench/_serve.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.columns import of_batch  # noqa: E402
from collector.db import insert_rows, make_engine  # noqa: E402
from collector.ingest import EVENT_COLUMNS, event_rows  # noqa: E402
from collector.migrations import upgrade  # noqa: E402
from collector.models import event_table  # noqa: E402
from contract import (
    check,  # noqa: E402
    records,  # noqa: E402
)

AGENT, ADMIN = "bench-agent-token", "bench-admin-token"
TYPES = ("crash", "hang", "slow_app", "connectivity_loss", "slow_system")
APPS = ("firefox", "outlook", "excel", "teams", "sap")


def make_batches(n_batches: int, n_events: int, n_devices: int = 200) -> list[dict]:
    """Realistic batches: several devices, mixed types and apps, small details."""
    now = time.time()
    batches = []
    for b in range(n_batches):
        device = f"bench-device-{b % n_devices:04d}"
        events = [records.Event(type=TYPES[i % 5], app=APPS[i % 5], start=now - 3600 + (b * n_events + i) * 0.001,
                             duration_s=float(i % 30), severity="warning", active_s=float(i % 20),
                             details={"pid_name": APPS[i % 5], "threshold_s": 2.0, "seq": i}).to_wire()
                  for i in range(n_events)]
        hb = records.Heartbeat(time=now - 1, interval_s=60, active_s=40, os="linux", os_version="6.1",
                            agent_version="0.1.0", site=f"site-{b % 5}", department=f"dept-{b % 7}").to_wire()
        batches.append(records.make_batch(device, events, [hb]))
    return batches


def measure_http(batches: list[dict], clients: int, workdir: Path, background: bool) -> float:
    """Events/s through a real collector process over HTTP (with or without its background jobs)."""
    port = free_port()
    config = workdir / f"collector-{background}.toml"
    config.write_text("[collector]\nmax_batches_per_s = 0\nmax_events = 100000\nmax_body_bytes = 100000000\n"
                      f"log_level = \"warning\"\nbackground_jobs = {str(background).lower()}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "hinder", "collector", "serve", "--config", str(config),
                             "--port", str(port), "--db", f"sqlite:///{workdir / f'http-{background}.db'}",
                             "--agent-token", AGENT, "--admin-token", ADMIN], env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", proc, "the collector")
        bodies = [gzip.compress(json.dumps(b).encode(), 6) for b in batches]
        headers = {"Authorization": f"Bearer {AGENT}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
        queue = list(reversed(bodies))
        lock = threading.Lock()
        failures, retries = [], []

        def client() -> None:
            with httpx.Client(timeout=120) as http:
                while True:
                    with lock:
                        if not queue:
                            return
                        body = queue.pop()
                    while True:  # like an agent: honour 503/429 with Retry-After
                        r = http.post(f"{url}/api/v1/events", content=body, headers=headers)
                        if r.status_code not in (429, 503):
                            break
                        with lock:
                            retries.append(r.status_code)
                        time.sleep(float(r.headers.get("Retry-After", "1")))
                    if r.status_code != 200:
                        failures.append(r.text[:200])

        threads = [threading.Thread(target=client) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if failures:
            raise RuntimeError(f"{len(failures)} batches failed: {failures[0]}")
        if retries:
            print(f"  ({len(retries)} requests were told to retry later: {sorted(set(retries))})", flush=True)
        return sum(len(b["events"]) for b in batches) / elapsed
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _raw_rows(batches: list[dict]) -> list[list[tuple]]:
    """The event rows of each batch as ingest stores them (validated and built before any clock starts)."""
    now = time.time()
    return [event_rows(v["events"], v["device_id"], now)
            for v in (of_batch(check.validate_batch(b, now=now)) for b in batches)]


def measure_raw(batches: list[dict], workdir: Path) -> float:
    """Events/s of plain executemany into the same schema (one transaction per batch)."""
    path = workdir / "raw.db"
    upgrade(make_engine(f"sqlite:///{path}"))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    rows = _raw_rows(batches)
    quoted = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    sql = f"INSERT INTO event ({quoted}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    t0 = time.perf_counter()
    for batch_rows in rows:
        conn.execute("BEGIN")
        conn.executemany(sql, batch_rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return sum(len(r) for r in rows) / elapsed


def measure_insert_rows(batches: list[dict], workdir: Path) -> float:
    """Events/s of the collector's own multi-row insert (``db.insert_rows``) alone, one transaction per batch."""
    engine = make_engine(f"sqlite:///{workdir / 'insert_rows.db'}")
    upgrade(engine)
    rows = _raw_rows(batches)
    t0 = time.perf_counter()
    for batch_rows in rows:
        with engine.begin() as conn:
            insert_rows(conn, event_table, EVENT_COLUMNS, batch_rows)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return sum(len(r) for r in rows) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"full": [], "ingest": [], "raw": [], "insert_rows": []}
    ratios = []
    for run in range(args.repeat):
        batches = make_batches(args.batches, args.events)
        with tempfile.TemporaryDirectory(prefix="hinder-bench-") as tmp:
            rates["full"].append(measure_http(batches, args.clients, Path(tmp), background=True))
            rates["raw"].append(measure_raw(batches, Path(tmp)))
            rates["ingest"].append(measure_http(batches, args.clients, Path(tmp), background=False))
            rates["insert_rows"].append(measure_insert_rows(batches, Path(tmp)))
        ratios.append(rates["ingest"][-1] / rates["raw"][-1])
        print(f"run {run + 1}: collector {rates['full'][-1]:,.0f} events/s, ingest-only collector "
              f"{rates['ingest'][-1]:,.0f} events/s, raw executemany {rates['raw'][-1]:,.0f} events/s "
              f"(ingest-only {ratios[-1]:.0%} of it), the collector's multi-row insert alone "
              f"{rates['insert_rows'][-1]:,.0f} events/s", flush=True)
    full, only, raw, multi = (statistics.median(rates[k]) for k in ("full", "ingest", "raw", "insert_rows"))
    print(f"\n{args.batches} batches x {args.events} events from {min(args.batches, 200)} devices, {args.clients} "
          f"clients, gzip, SQLite (WAL), median of {args.repeat} runs; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"collector, with its background jobs (impact refresh): {full:10,.0f} events/s  {full / raw:4.0%} of raw")
    print(f"collector, background_jobs = false (ingest only):     {only:10,.0f} events/s  {only / raw:4.0%} of raw "
          f"(median of the runs' own ratios: {statistics.median(ratios):.0%})")
    print(f"raw executemany, same schema and pragmas:             {raw:10,.0f} events/s")
    print(f"the collector's multi-row insert alone (db.insert_rows): {multi:7,.0f} events/s  {multi / raw:4.0%} of raw")
    print("target: ingest >= 50% of raw executemany")


if __name__ == "__main__":
    main()
