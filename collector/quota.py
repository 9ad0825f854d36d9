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
from contract.records import MAX_ANSWERS_PER_DAY, SECTIONS, format_time, span

DAY = 86400
# device_day_load has one column per section, named after the batch's field; errors name the record's time field
_TIME_FIELD = {sec.kind: sec.time_field for sec in SECTIONS}
_COLUMN = {sec.kind: sec.field for sec in SECTIONS}
_RECORD = {sec.kind: sec.record for sec in SECTIONS}

# Kinds with a tighter bound of their own (beyond it one device would weigh more than its employee in "felt vs
# measured"): the pulse's answers, see contract.records.MAX_ANSWERS_PER_DAY.
_KIND_LIMIT = {"feedback": MAX_ANSWERS_PER_DAY}
_KIND_LIMIT_WHY = {"feedback": "contract.records.MAX_ANSWERS_PER_DAY: the pulse asks at most 10 times a local day"}

Spans = dict[str, list[tuple[int, float, float]]]  # per record kind: (index in the batch, start, end) of new records


def spans(events: Columns, new_events: Sequence[int], others: dict[str, tuple[list[dict], Sequence[int]]]) -> Spans:
    """The spans of the records stored for the first time: ``new_events`` index ``events``; ``others`` holds, per
    record kind, the batch's records and the indices of the new ones."""
    starts, durations = events["start"], events["duration_s"]
    out: Spans = {"event": [(i, starts[i], starts[i] + durations[i]) for i in new_events]}
    for kind, (records, new) in others.items():
        out[kind] = [(i, *span(_RECORD[kind], records[i])) for i in new]
    return out


def count(conn: Connection, device_id: str, new: Spans, per_day: int) -> None:
    """Count the new records per device-day they overlap; raise ContractError naming those beyond ``per_day``.

    ``new`` holds the spans of the records stored for the first time (:func:`spans`: a retried batch counts
    nothing twice); each kind of record has its own quota. This runs on every batch: the days are counted in
    bulk, and records are looked at one by one only when a day would go over the quota.
    """
    loads = {kind: _load(kind_spans) for kind, kind_spans in new.items()}
    limit = {kind: min(per_day, _KIND_LIMIT.get(kind, per_day)) for kind in loads}
    days = sorted(set().union(*loads.values()))
    if not days:
        return
    kinds = list(loads)
    columns = [_COLUMN[kind] for kind in kinds]
    t = device_day_load_table.c
    stored = {row[0] // DAY: dict(zip(kinds, row[1:])) for row in conn.execute(
        sa.select(t.day, *(t[c] for c in columns)).where(t.device_id == device_id, t.day.in_([d * DAY for d in days])))}
    problems = [problem for kind in kinds
                if any(stored.get(day, {}).get(kind, 0) + n > limit[kind] for day, n in loads[kind].items())
                for problem in _beyond(new[kind], {day: v[kind] for day, v in stored.items()}, limit[kind], kind,
                                       _TIME_FIELD[kind])]
    if problems:
        raise ContractError(problems)
    add_up(conn, device_day_load_table, ("device_id", "day"), columns,
           [((device_id, day * DAY), tuple(loads[kind].get(day, 0) for kind in kinds)) for day in days])


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
                                      f"({_KIND_LIMIT_WHY.get(kind, 'collector.max_records_per_device_day')})"})
    return problems


def _date(day: int) -> str:
    return format_time(day * DAY)[:10]
