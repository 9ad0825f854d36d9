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


_UPDATE = support_ticket_table.update().where(
    support_ticket_table.c.source == sa.bindparam("_source"), support_ticket_table.c.ticket_id == sa.bindparam("_ticket_id"))
_LOOKUP_AT_ONCE = 500  # ticket ids per query of the stored rows


def _stored_rows(conn: Connection, tickets: list[Ticket]) -> dict[tuple[str, str], dict]:
    """The stored rows of these tickets, by (source, ticket id): a few queries, not one per ticket."""
    t = support_ticket_table.c
    ids_of: dict[str, list[str]] = {}
    for ticket in tickets:
        ids_of.setdefault(ticket.source, []).append(ticket.ticket_id)
    out = {}
    for source, ids in ids_of.items():
        unique = sorted(set(ids))
        for at in range(0, len(unique), _LOOKUP_AT_ONCE):
            query = sa.select(support_ticket_table).where(t.source == source, t.ticket_id.in_(unique[at:at + _LOOKUP_AT_ONCE]))
            out.update({(r["source"], r["ticket_id"]): dict(r) for r in conn.execute(query).mappings()})
    return out


def store_tickets(conn: Connection, tickets: list[Ticket], now: float | None = None,
                  model: impact.ModelConfig | None = None) -> Stored:
    """Store tickets in the caller's transaction: insert the new, update the changed, skip the refused; mark the
    device-days the changes touch for the impact refresher (``model``: the ``[model]`` settings, to mark no
    wider than they reach; see :func:`collector.aggregates.marks.on_tickets`)."""
    now = time.time() if now is None else now
    out = Stored()
    valid = []
    for ticket in tickets:
        reason = problem(ticket, now)
        if reason:
            out.skipped[reason] += 1
        else:
            valid.append(ticket)
    stored = _stored_rows(conn, valid)
    devices: dict[tuple, tuple[str, str, str] | None] = {}  # identity keys -> the device they name
    pending: dict[tuple[str, str], dict] = {}  # (source, ticket id) -> the row to insert or update
    for ticket in valid:
        row = asdict(ticket)
        keys = (ticket.host_key, ticket.asset_key, ticket.account_key)
        if keys not in devices:
            devices[keys] = device_for(conn, ticket)
        device = devices[keys]
        row["device_id"], row["site"], row["department"] = device or (None, row["site"], row["department"])
        key = (ticket.source, ticket.ticket_id)
        before = stored.get(key)
        if before is None:  # new (or new earlier in this call: the later version wins)
            out.inserted += key not in pending
            out.unchanged += key in pending
            pending[key] = {**row, "stored_at": now, "changed_at": now}
        elif any(before[c] != row[c] for c in (*_COLUMNS, "device_id")):
            after = {**before, **row, "changed_at": now}
            out.updated += key not in pending
            out.unchanged += key in pending
            pending[key] = after
            out.changed.append((before, after))
            stored[key] = after
        else:
            out.unchanged += 1
    inserts = [r for k, r in pending.items() if k not in stored]
    updates = [{**r, "_source": r["source"], "_ticket_id": r["ticket_id"]} for k, r in pending.items() if k in stored]
    if inserts:
        conn.execute(support_ticket_table.insert(), inserts)
        out.changed += [(None, r) for r in inserts]
    counts = Counter((r["channel"], r["site"], r["department"]) for r in inserts)  # contacts, counted once
    if updates:
        conn.execute(_UPDATE, updates)
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
