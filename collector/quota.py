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

from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.columns import Columns
from collector.db import add_up
from collector.models import device_day_load_table
from contract.check import ContractError

DAY = 86400
_KINDS = (("event", "events", "start"), ("heartbeat", "heartbeats", "time"))  # (wire kind, column, time field)


def overlapped_days(start: float, end: float) -> range:
    """The UTC days (Unix seconds of their midnight) the interval ``[start, end]`` touches."""
    first = int(start // DAY) * DAY
    return range(first, int(max(start, end) // DAY) * DAY + 1, DAY)


def count(conn: Connection, device_id: str, events: Columns, new_events: Sequence[int],
          heartbeats: list[dict], new_heartbeats: Sequence[int], per_day: int) -> None:
    """Count the new records per device-day they overlap; raise ContractError naming those beyond ``per_day``.

    ``new_events`` and ``new_heartbeats`` are the indices, in the batch, of the
    records stored for the first time (a retried batch counts nothing twice).
    """
    spans = (
        [(i, events["start"][i], events["start"][i] + events["duration_s"][i]) for i in new_events],
        [(i, heartbeats[i]["time"] - heartbeats[i]["interval_s"], heartbeats[i]["time"]) for i in new_heartbeats],
    )
    days = sorted({day for kind in spans for _, s, e in kind for day in overlapped_days(s, e)})
    if not days:
        return
    t = device_day_load_table.c
    stored = {row.day: (row.events, row.heartbeats) for row in conn.execute(
        sa.select(t.day, t.events, t.heartbeats).where(t.device_id == device_id, t.day.in_(days)))}
    added: list[dict[int, int]] = []
    problems = []
    for k, ((kind, _column, time_field), kind_spans) in enumerate(zip(_KINDS, spans)):
        load = {day: loads[k] for day, loads in stored.items()}
        new: dict[int, int] = defaultdict(int)
        for i, s, e in kind_spans:
            touched = overlapped_days(s, e)
            full = next((day for day in touched if load.get(day, 0) + new.get(day, 0) >= per_day), None)
            if full is not None:
                problems.append({"kind": kind, "index": i, "field": time_field,
                                 "error": f"more than {per_day} {kind}s of this device overlap "
                                          f"{_date(full)} (collector.max_records_per_device_day)"})
                continue
            for day in touched:
                new[day] += 1
        added.append(new)
    if problems:
        raise ContractError(problems)
    add_up(conn, device_day_load_table, ("device_id", "day"), ("events", "heartbeats"),
           _rows(device_id, *added))


def _rows(device_id: str, events: dict[int, int], heartbeats: dict[int, int]) -> Iterable[tuple[tuple, tuple]]:
    for day in events.keys() | heartbeats.keys():
        yield (device_id, day), (events.get(day, 0), heartbeats.get(day, 0))


def _date(day: int) -> str:
    return datetime.fromtimestamp(day, timezone.utc).strftime("%Y-%m-%d")
