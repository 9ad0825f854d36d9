"""Retention: events and heartbeats older than ``retention_days`` are deleted.

Runs when the collector starts and every hour after. Counters already
exported (disruption counts) are not decreased: a Prometheus counter never
goes down, and the history is in Prometheus.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine

from collector.db import write_transaction
from collector.models import event_table, heartbeat_table

log = logging.getLogger("hinder.collector")

PURGE_EVERY_S = 3600.0


def purge_expired(engine: Engine, retention_days: float, now: float | None = None) -> dict[str, int]:
    """Delete events (by start) and heartbeats (by time) older than the retention; return counts."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    with write_transaction(engine) as conn:
        events = conn.execute(event_table.delete().where(event_table.c.start < cutoff)).rowcount
        heartbeats = conn.execute(heartbeat_table.delete().where(heartbeat_table.c.time < cutoff)).rowcount
    if events or heartbeats:
        log.info("retention: deleted %d events and %d heartbeats older than %g days", events, heartbeats, retention_days)
    return {"events": events, "heartbeats": heartbeats}
