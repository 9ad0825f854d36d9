"""Reading the service-desk figures: the tickets of a period, and the measured lost time around them (the iceberg).

The companion of :mod:`.queries` for tickets, read by the weekly report and
/metrics, never writing. A ticket *follows a measured disruption* when its
device lost time to a measured cause (a type of impact model v1, i.e. not a
support type) in an hour that started before the ticket was opened and ended
less than ``window_s`` before it (to the hour: the hourly rows are the finest
the model keeps). The cause it follows is the (type, application) with the
most lost seconds in those hours.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.aggregates import HOUR, queries
from collector.models import support_ticket_table
from contract import events

MEASURED_TYPES = events.names(support=False)  # the causes of impact model v1: what agents measure
_CHUNK = 1000  # devices per query (bind parameters stay well under every driver's limit)


class OpenedTicket(NamedTuple):
    """A ticket opened in the period asked for, with what the figures read of it."""

    device_id: str | None  # the device it was joined to (None: its caller's device is unknown)
    opened_at: float
    resolved_at: float | None
    channel: str
    category: str
    work_stopping: bool
    site: str  # the joined device's labels when stored, else the ticket's own ("" unknown)
    department: str


class Cause(NamedTuple):
    """The measured disruption a ticket followed."""

    type: str
    app: str | None  # the raw application name, for a type whose ``app`` names one


def tickets_opened(conn: Connection, start: float, end: float) -> list[OpenedTicket]:
    """The tickets opened in ``[start, end)``, oldest first."""
    t = support_ticket_table.c
    rows = conn.execute(sa.select(t.device_id, t.opened_at, t.resolved_at, t.channel, t.category, t.work_stopping,
                                  t.site, t.department)
                        .where(t.opened_at >= start, t.opened_at < end).order_by(t.opened_at, t.source, t.ticket_id))
    return [OpenedTicket(*r) for r in rows]


def any_ticket(conn: Connection) -> bool:
    """Whether any ticket was ever stored (a service desk is connected)."""
    return conn.execute(sa.select(sa.literal(1)).select_from(support_ticket_table).limit(1)).first() is not None


def causes(conn: Connection, tickets: list[OpenedTicket], window_s: float) -> list[Cause | None]:
    """For each ticket, the measured disruption it followed on its device within ``window_s``, or None."""
    joined = [t for t in tickets if t.device_id]
    if not joined:
        return [None] * len(tickets)
    start = min(t.opened_at for t in joined) - window_s - HOUR
    end = max(t.opened_at for t in joined) + HOUR
    hours: dict[str, list[tuple[int, str, str, float]]] = defaultdict(list)  # device -> (hour, type, app, lost s)
    for chunk in _chunks(sorted({t.device_id for t in joined})):
        for dev, hour, etype, app, lost_s, _n in queries.lost_by(conn, start, end, ["device_id", "hour", "type", "app"],
                                                                 where={"device_id": chunk, "type": MEASURED_TYPES}):
            if lost_s > 0:
                hours[dev].append((hour, etype, app, float(lost_s)))
    return [_cause(hours.get(t.device_id, ()), t.opened_at, window_s) if t.device_id else None for t in tickets]


def _cause(rows: Iterable[tuple[int, str, str, float]], opened_at: float, window_s: float) -> Cause | None:
    lost: dict[tuple[str, str], float] = defaultdict(float)
    for hour, etype, app, lost_s in rows:
        if hour < opened_at and hour + HOUR > opened_at - window_s:
            lost[etype, app] += lost_s
    if not lost:
        return None
    etype, app = max(sorted(lost), key=lost.__getitem__)
    return Cause(etype, app if events.BY_NAME[etype].of_app else None)


def lost_of_devices(conn: Connection, devices: Iterable[str], start: float, end: float) -> list[tuple]:
    """Measured lost seconds of ``devices`` in ``[start, end)`` as (type, site, department, lost_s) rows."""
    sums: dict[tuple[str, str, str], float] = defaultdict(float)
    for chunk in _chunks(sorted(devices)):
        for etype, site, department, lost_s, _n in queries.lost_by(conn, start, end, ["type", "site", "department"],
                                                                   where={"device_id": chunk, "type": MEASURED_TYPES}):
            sums[etype, site, department] += float(lost_s)
    return [(*key, value) for key, value in sums.items()]


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]
