"""The per-device quota: how many records may overlap one UTC day of one device.

The contract bounds each record's span, not how many records one device
sends. The refresher recomputes a device-day from every event and heartbeat
overlapping it, inside a write transaction, so a device piling legal records
onto its days (5,000 events of 31 days per batch) would make each recompute
cost more with every batch, until other agents' batches wait past the
database's busy timeout (docs/security.md). At ingest the records new to the
collector are counted per device-day they overlap (table ``device_day_load``);
a record that would take a day beyond ``max_records_per_device_day`` is
refused, named in a 422 like any record the contract refuses (the agent sets
it aside), and nothing of the batch is stored.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.columns import Columns
from collector.db import add_up
from collector.models import device_day_load_table
from contract.check import ContractError
from contract.records import format_time

DAY = 86400
_KINDS = (("event", "start"), ("heartbeat", "time"))  # (wire kind, its time field), in the columns' order


def count(conn: Connection, device_id: str, events: Columns, new_events: Sequence[int],
          heartbeats: list[dict], new_heartbeats: Sequence[int], per_day: int) -> None:
    """Count the new records per device-day they overlap; raise ContractError naming those beyond ``per_day``.

    ``new_events`` and ``new_heartbeats`` are the indices, in the batch, of the
    records stored for the first time (a retried batch counts nothing twice).
    This runs on every batch: the days are counted in bulk, and records are
    looked at one by one only when a day would go over the quota.
    """
    starts, durations = events["start"], events["duration_s"]
    spans = (
        [(i, starts[i], starts[i] + durations[i]) for i in new_events],
        [(i, heartbeats[i]["time"] - heartbeats[i]["interval_s"], heartbeats[i]["time"]) for i in new_heartbeats],
    )
    loads = [_load(kind_spans) for kind_spans in spans]
    days = sorted(loads[0].keys() | loads[1].keys())
    if not days:
        return
    t = device_day_load_table.c
    stored = {row.day // DAY: (row.events, row.heartbeats) for row in conn.execute(
        sa.select(t.day, t.events, t.heartbeats).where(t.device_id == device_id, t.day.in_([d * DAY for d in days])))}
    problems = [problem for k, (kind, time_field) in enumerate(_KINDS)
                if any(stored.get(day, (0, 0))[k] + n > per_day for day, n in loads[k].items())
                for problem in _beyond(spans[k], {day: v[k] for day, v in stored.items()}, per_day, kind, time_field)]
    if problems:
        raise ContractError(problems)
    add_up(conn, device_day_load_table, ("device_id", "day"), ("events", "heartbeats"),
           [((device_id, day * DAY), (loads[0].get(day, 0), loads[1].get(day, 0))) for day in days])


def _load(spans: list[tuple[int, float, float]]) -> Counter:
    """How many of the spans overlap each UTC day (day numbers since the epoch)."""
    firsts = [int(s // DAY) for _, s, _ in spans]
    lasts = [int(max(s, e) // DAY) for _, s, e in spans]
    load = Counter(first for first, last in zip(firsts, lasts) if first == last)  # the usual case: within one day
    for first, last in zip(firsts, lasts):
        if first != last:
            load.update(range(first, last + 1))
    return load


def _beyond(spans: list[tuple[int, float, float]], stored: dict[int, int], per_day: int, kind: str,
            time_field: str) -> list[dict]:
    """The records (in batch order) that would make a day of theirs go over ``per_day``, as contract errors."""
    load = dict(stored)
    problems = []
    for i, s, e in spans:
        touched = range(int(s // DAY), int(max(s, e) // DAY) + 1)
        full = next((day for day in touched if load.get(day, 0) >= per_day), None)
        if full is None:
            for day in touched:
                load[day] = load.get(day, 0) + 1
        else:
            problems.append({"kind": kind, "index": i, "field": time_field,
                             "error": f"more than {per_day} {kind}s of this device overlap {_date(full)} "
                                      "(collector.max_records_per_device_day)"})
    return problems


def _date(day: int) -> str:
    return format_time(day * DAY)[:10]
