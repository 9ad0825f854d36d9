"""Cost of storing service-desk tickets (collector.support.store.store_tickets), the path every source takes.

Fills a fresh SQLite database with D devices that sent identity keys, then
stores N tickets naming them (host keys) in chunks of --chunk, as an import,
a webhook or a connector page does: first new, then the same again
(unchanged), then each changed (resolved). Prints the median microseconds per
ticket of each pass over --repeat runs.

Usage: python3 bench/tickets.py [--tickets 5000] [--devices 500] [--chunk 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.db import make_engine, write_transaction  # noqa: E402
from collector.impact import ModelConfig  # noqa: E402
from collector.migrations import upgrade  # noqa: E402
from collector.models import device_table  # noqa: E402
from collector.support.store import store_tickets  # noqa: E402
from collector.support.tickets import CHANNELS, Ticket  # noqa: E402
from contract.identity import identity_key  # noqa: E402

SECRET = b"bench-identity-key-0123456789"


def _run(path: Path, n: int, devices: int, chunk: int) -> dict[str, float]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = time.time()
    with write_transaction(engine) as conn:
        conn.execute(device_table.insert(), [
            {"id": f"device-{d:05d}", "first_seen": now, "last_seen": now, "os": "linux", "os_version": "6.1",
             "agent_version": "0.1.0", "site": "Paris", "department": "Sales", "spool_dropped_total": 0,
             "rejected_total": 0, "sensor_errors_total": 0, "last_details": {},
             "host_key": identity_key(SECRET, "host", f"pc-{d:05d}")} for d in range(devices)])
    tickets = [Ticket(source="bench", ticket_id=f"INC{i:07d}", opened_at=now - 86400 + i, updated_at=now - 86400 + i,
                      channel=CHANNELS[i % len(CHANNELS)], host_key=identity_key(SECRET, "host", f"pc-{i % devices:05d}"))
               for i in range(n)]
    resolved = [dataclasses.replace(t, resolved_at=t.opened_at + 600, updated_at=t.opened_at + 600) for t in tickets]
    model = ModelConfig()
    out = {}
    for name, batch in (("new", tickets), ("unchanged", tickets), ("changed", resolved)):
        started = time.perf_counter()
        for at in range(0, n, chunk):
            with write_transaction(engine) as conn:
                store_tickets(conn, batch[at:at + chunk], now=now, model=model)
        out[name] = (time.perf_counter() - started) / n * 1e6
    engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_run(Path(tmp) / "tickets.db", args.tickets, args.devices, args.chunk))
    for name in ("new", "unchanged", "changed"):
        print(f"store_tickets, {name:9s} median {statistics.median(r[name] for r in runs):8.1f} us per ticket "
              f"({args.tickets} tickets, chunks of {args.chunk}, {args.repeat} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
