"""Keeping tickets: stored once per (source, ticket id), updated when read again, joined to devices by identity key.

:func:`store_tickets` is the one way a ticket enters the database, whatever
its source: it refuses what :func:`collector.support.tickets.problem` refuses
(counted, with the reason), inserts a new ticket, updates a changed one and
leaves an unchanged one alone, so a source read twice, or a file imported
twice, doubles nothing. A ticket is joined to the device whose identity keys
match its configuration item (host name or asset tag) first, else its caller's
account, the most recently seen such device when several do. A ticket that
arrived before its device ever sent keys is joined later, when the device's
keys change (:func:`rematch`, from the ingest hook :func:`on_ingest`). A new ticket is also counted
in ``support_count`` under its channel and labels, for the contacts counters
of /metrics (an update never moves a ticket between counts).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import impact
from collector.aggregates import marks, model_config
from collector.db import add_up
from collector.ingest import IngestedBatch
from collector.models import device_table, support_count_table, support_ticket_table
from collector.support.tickets import Ticket, problem
from contract.records import IDENTITY_KEYS

_COLUMNS = tuple(f for f in Ticket.__dataclass_fields__)


@dataclass
class Stored:
    """What one call of :func:`store_tickets` did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> records refused
    changed: list[tuple[dict | None, dict]] = field(default_factory=list)  # (row before or None, row after)

    def add(self, other: Stored) -> None:
        """Add the counts of another call (a source stored page by page, a file chunk by chunk); ``changed`` is
        each call's own (what it changed is marked for the model by that call), so a long poll does not keep it."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped.update(other.skipped)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def device_for(conn: Connection, ticket: Ticket) -> tuple[str, str, str] | None:
    """(device id, site, department) of the device a ticket names, or None."""
    d = device_table.c
    for keys in (((d.host_key, ticket.host_key), (d.asset_key, ticket.asset_key)),
                 ((d.account_key, ticket.account_key),)):
        match = [column == value for column, value in keys if value]
        if match:
            row = conn.execute(sa.select(d.id, d.site, d.department).where(sa.or_(*match))
                               .order_by(d.last_seen.desc().nulls_last(), d.id).limit(1)).first()
            if row:
                return row[0], row[1], row[2]
    return None


def store_tickets(conn: Connection, tickets: list[Ticket], now: float | None = None,
                  model: impact.ModelConfig | None = None) -> Stored:
    """Store tickets in the caller's transaction: insert the new, update the changed, skip the refused; mark the
    device-days the changes touch for the impact refresher (``model``: the ``[model]`` settings, to mark no
    wider than they reach; see :func:`collector.aggregates.marks.on_tickets`)."""
    now = time.time() if now is None else now
    out = Stored()
    t = support_ticket_table.c
    counts: Counter = Counter()  # (channel, site, department) -> tickets inserted
    for ticket in tickets:
        reason = problem(ticket, now)
        if reason:
            out.skipped[reason] += 1
            continue
        row = asdict(ticket)
        device = device_for(conn, ticket)
        if device:
            row["device_id"], row["site"], row["department"] = device
        else:
            row["device_id"] = None
        key = (t.source == ticket.source) & (t.ticket_id == ticket.ticket_id)
        before = conn.execute(sa.select(support_ticket_table).where(key)).mappings().first()
        if before is None:
            conn.execute(support_ticket_table.insert().values(**row, stored_at=now, changed_at=now))
            out.inserted += 1
            counts[row["channel"], row["site"], row["department"]] += 1
            out.changed.append((None, {**row, "stored_at": now, "changed_at": now}))
        elif any(before[c] != row[c] for c in (*_COLUMNS, "device_id")):
            conn.execute(support_ticket_table.update().where(key).values(**row, changed_at=now))
            out.updated += 1
            out.changed.append((dict(before), {**dict(before), **row, "changed_at": now}))
        else:
            out.unchanged += 1
    add_up(conn, support_count_table, ("channel", "site", "department"), ("contacts",),
           [(key, (n,)) for key, n in counts.items()])
    marks.on_tickets(conn, out.changed, model)
    return out


def on_ingest(conn: Connection, batch: IngestedBatch) -> None:
    """The ingest hook: when a device sent new identity keys, join it the tickets of the last ``max_age_s`` that
    arrived before and match none, and mark them for the impact refresher."""
    if batch.identity_changed:
        now = batch.received_at
        joined = rematch(conn, batch.device["id"], batch.device, now - batch.config.collector.max_age_s, now)
        marks.on_tickets(conn, joined, model_config(batch.config))


def rematch(conn: Connection, device_id: str, keys: dict[str, str | None], since: float,
            now: float | None = None) -> list[tuple[dict, dict]]:
    """Join to a device the tickets opened since ``since`` that are joined to none and share one of its ``keys``
    (``host_key``, ``asset_key``, ``account_key``); return their (row before, row after) pairs, like
    :attr:`Stored.changed`. The tickets take the device's site and department, as :func:`store_tickets` does."""
    now = time.time() if now is None else now
    t, d = support_ticket_table.c, device_table.c
    match = [t[k] == keys[k] for k in IDENTITY_KEYS if keys.get(k)]
    if not match:
        return []
    device = conn.execute(sa.select(d.site, d.department).where(d.id == device_id)).first()
    if device is None:
        return []
    unjoined = sa.and_(t.device_id.is_(None), t.opened_at >= since, sa.or_(*match))
    befores = conn.execute(sa.select(support_ticket_table).where(unjoined)).mappings().all()
    if not befores:
        return []
    joined = {"device_id": device_id, "site": device[0], "department": device[1], "changed_at": now}
    conn.execute(support_ticket_table.update().where(unjoined).values(**joined))
    return [(dict(row), {**dict(row), **joined}) for row in befores]
