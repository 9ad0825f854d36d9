"""Retention: per-device data older than ``retention_days`` is deleted.

That is the events and heartbeats, the impact model's per-device rows
computed from them (``lost_hourly``, ``active_hourly``, ``outage_daily``, ``device_day_load``),
the service-desk tickets not changed since (``support_ticket``), the pulse's
answers (``feedback``), which devices answered where (``felt_device``, by its
latest answer: /metrics then counts fewer answering devices, folding more, never
less), the app-time totals (``app_usage``), the network counts per device and day (``network_daily``) and
devices' newest network readings (``network_device``, by the heartbeat's time), the application versions and OS
builds a device was not seen with since (``device_change``) and the fleet's changes first seen before the cutoff
(``change``), and the per-device and per-executable daily sums of the trailing-week figures (``device_daily``,
``app_lost_daily``), once their day has also left the trailing week (the refresher subtracts a day from the week's
sums when it leaves: with a retention under 7 days, they are kept up to 7).
What is kept is by label only: the rollups by site, department and
application, the per-day version counts and the all-time counters (a
Prometheus counter never goes down, and the history is in Prometheus). A
weekly report of a week older than the retention therefore has no
per-device figures. Runs when the collector starts and every hour after.
"""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collector.db import write_transaction
from collector.models import (
    active_hourly_table, device_day_load_table, event_table, heartbeat_table, lost_hourly_table, outage_daily_table,
    app_usage_table, change_table, device_change_table, feedback_table, felt_device_table, support_ticket_table,
)
from collector.models import (
    app_lost_daily_table, device_daily_table, network_daily_table, network_device_table, week_state_table,
)

log = logging.getLogger("hinder.collector")

PURGE_EVERY_S = 3600.0


# table -> its time column; hourly and daily rows go when their hour or day has wholly passed the cutoff
_PER_DEVICE = {event_table: "start", heartbeat_table: "time", lost_hourly_table: "hour",
               active_hourly_table: "hour", outage_daily_table: "day", device_day_load_table: "day",
               support_ticket_table: "updated_at", feedback_table: "time", app_usage_table: "start",
               felt_device_table: "answered_at", network_daily_table: "day", network_device_table: "time",
               device_change_table: "last_seen", change_table: "first_seen"}
_SPAN_S = {"hour": 3600, "day": 86400}
# daily sums the ``*_week`` tables subtract when a day leaves the trailing week: deleted once it has left it too
_WEEK_SOURCES = {device_daily_table: "day", app_lost_daily_table: "day"}


def purge_expired(engine: Engine, retention_days: float, now: float | None = None) -> dict[str, int]:
    """Delete per-device rows older than the retention; return the count deleted per table."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    deleted = {}
    with write_transaction(engine) as conn:
        for table, column in _PER_DEVICE.items():
            older = table.c[column] < cutoff - _SPAN_S.get(column, 0)
            deleted[table.name] = conn.execute(table.delete().where(older)).rowcount
        first_day = conn.execute(sa.select(week_state_table.c.first_day)).scalar()
        week_cutoff = min(cutoff - 86400, first_day if first_day is not None else cutoff - 86400)
        for table, column in _WEEK_SOURCES.items():
            deleted[table.name] = conn.execute(table.delete().where(table.c[column] < week_cutoff)).rowcount
    if any(deleted.values()):
        log.info("retention: deleted rows older than %g days: %s", retention_days,
                 ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
    return deleted
