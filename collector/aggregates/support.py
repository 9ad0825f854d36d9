"""Reading the service-desk figures: the tickets of a period, and the measured lost time around them (the iceberg).

The companion of :mod:`.queries` for tickets, read by the weekly report and
/metrics, never writing: it reads ``support_ticket`` and the impact model's
``lost_hourly`` rows of the devices tickets were joined to, through index
seeks per ticket, so its cost follows the tickets, not the fleet.

A ticket *follows a measured disruption* when its device lost time to a
measured cause (a type of impact model v1, i.e. not a support type) in an hour
that started before the ticket was opened and ended less than ``window_s``
before it (to the hour: the hourly rows are the finest the model keeps). The
cause it follows is the (type, application) with the most lost seconds in
those hours.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import impact
from collector.aggregates import HOUR
from collector.models import lost_hourly_table, support_ticket_table
from contract import events

MEASURED_TYPES = impact.types_of("1")  # the causes of impact model v1: what agents measure


class Cause(NamedTuple):
    """The measured disruption a ticket followed."""

    type: str
    app: str | None  # the raw application name, for a type whose ``app`` names one


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
    cause: Cause | None  # the measured disruption it followed


def tickets_opened(conn: Connection, start: float, end: float, window_s: float) -> list[OpenedTicket]:
    """The tickets opened in ``[start, end)``, oldest first, each with the measured disruption it followed on its
    device within ``window_s`` (or None)."""
    t, lh = support_ticket_table.c, lost_hourly_table.c
    opened = sa.and_(t.opened_at >= start, t.opened_at < end)
    lost: dict[tuple[str, str], dict[tuple[str, str], float]] = defaultdict(dict)  # ticket -> (type, app) -> s
    for source, ticket_id, etype, app, lost_s in conn.execute(  # per ticket: an index seek per device and type
            sa.select(t.source, t.ticket_id, lh.type, lh.app, sa.func.sum(lh.lost_s))
            .select_from(support_ticket_table.join(lost_hourly_table, lh.device_id == t.device_id))
            .where(opened, lh.type.in_(MEASURED_TYPES), lh.hour < t.opened_at,
                   lh.hour > t.opened_at - window_s - HOUR, lh.lost_s > 0)
            .group_by(t.source, t.ticket_id, lh.type, lh.app)):
        lost[source, ticket_id][etype, app] = float(lost_s)
    rows = conn.execute(sa.select(t.source, t.ticket_id, t.device_id, t.opened_at, t.resolved_at, t.channel,
                                  t.category, t.work_stopping, t.site, t.department)
                        .where(opened).order_by(t.opened_at, t.source, t.ticket_id))
    return [OpenedTicket(*r[2:], _cause(lost.get((r[0], r[1])))) for r in rows]


def _cause(lost: dict[tuple[str, str], float] | None) -> Cause | None:
    """The (type, application) with the most lost seconds."""
    if not lost:
        return None
    etype, app = max(sorted(lost), key=lost.__getitem__)
    return Cause(etype, app if events.BY_NAME[etype].of_app else None)


def any_ticket(conn: Connection) -> bool:
    """Whether any ticket was ever stored (a service desk is connected)."""
    return conn.execute(sa.select(sa.literal(1)).select_from(support_ticket_table).limit(1)).first() is not None


def lost_of_ticketed_devices(conn: Connection, start: float, end: float) -> list[tuple]:
    """Measured lost seconds in ``[start, end)`` of the devices with a ticket opened in it, as (type, site,
    department, lost_s) rows."""
    t, lh = support_ticket_table.c, lost_hourly_table.c
    ticketed = sa.select(t.device_id).where(t.opened_at >= start, t.opened_at < end, t.device_id.is_not(None))
    first, last = math.ceil(start / HOUR) * HOUR, math.ceil(end / HOUR) * HOUR
    return [tuple(r) for r in conn.execute(
        sa.select(lh.type, lh.site, lh.department, sa.func.sum(lh.lost_s))
        .where(lh.device_id.in_(ticketed), lh.type.in_(MEASURED_TYPES), lh.hour >= first, lh.hour < last)
        .group_by(lh.type, lh.site, lh.department))]
