"""Network quality, counted on arrival: outages by interface kind, working time per Wi-Fi signal band, blips.

The agent's connectivity sensor names the interface of each outage
(``details.interface_kind``, with ``wifi_signal_dbm`` on Wi-Fi) and puts in
every heartbeat's details the newest Wi-Fi signal reading and its running count
of blips (outages too short to report) since it started. :func:`count` (called
by :func:`collector.aggregates.marks.on_ingest` on the records stored for the
first time) adds them to ``network_count`` (all time, per site: /metrics) and
``network_daily`` (per device and UTC day: the weekly report), and keeps each
device's newest reading in ``network_device``.

Everything is the agent's word, so bounded: an unknown interface kind counts
as ``unknown``; a signal that is not a number of dBm between
:data:`MIN_DBM` and :data:`MAX_DBM` is ignored; a blip count that is not a
whole number is ignored, a lower one than the last seen means the agent
restarted (counted from 0), and one heartbeat adds at most one blip per
:data:`MIN_BLIP_S` of its interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.aggregates import day_start, week_end
from collector.columns import Columns
from collector.db import add_up, insert, prepared
from collector.ingest import IngestedBatch
from collector.models import network_count_table, network_daily_table, network_device_table
from contract.events import INTERFACE_KIND, INTERFACE_KINDS, WIFI_SIGNAL_DBM
from contract.records import MAX_COUNT

OUTAGE_TYPE = "connectivity_loss"
BLIPS_TOTAL = "connectivity_blips_total"  # the heartbeat detail the connectivity sensor keeps
OUTAGE, SIGNAL, BLIP = "outage", "signal", "blip"  # the measures of network_count and network_daily
# Wi-Fi signal bands (dBm): voice and video suffer below -67, connections break below -80.
GOOD, FAIR, POOR = "good", "fair", "poor"
BANDS = (GOOD, FAIR, POOR)
GOOD_DBM, POOR_DBM = -67.0, -80.0
MIN_DBM, MAX_DBM = -120.0, 0.0  # readings outside are no reading
MIN_BLIP_S = 1.0  # a blip is a failed check followed by a good one: at most one per second of a heartbeat's interval
MAX_BLIPS_SEEN = MAX_COUNT  # a running count beyond is kept at this (the 64-bit column's bound)


def interface_kind(value: Any) -> str:
    """An outage's ``interface_kind`` detail as counted: one of INTERFACE_KINDS, else ``unknown``."""
    return value if isinstance(value, str) and value in INTERFACE_KINDS else "unknown"


def signal_band(value: Any) -> str | None:
    """The band of a Wi-Fi signal reading in dBm (good from -67, fair down to -80, poor below), None when the value
    is no plausible reading (not a number, a boolean, NaN, outside MIN_DBM..MAX_DBM)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not MIN_DBM <= value <= MAX_DBM:
        return None  # NaN fails the comparison too
    return GOOD if value >= GOOD_DBM else FAIR if value >= POOR_DBM else POOR


def _blips_seen(value: Any) -> int | None:
    """A heartbeat's running blip count, None when it is no whole number of at least 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return min(int(value), MAX_BLIPS_SEEN)


def count(conn: Connection, batch: IngestedBatch) -> None:
    """Add the batch's new outages, heartbeats' signal time and blips to the network counts."""
    dev = batch.device
    daily: dict[tuple, list] = defaultdict(lambda: [0, 0.0])  # (day, measure, label) -> [count, seconds]
    _outages(batch.events, daily)
    _heartbeats(conn, dev, batch.heartbeats, daily)
    totals: dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    for (_day, measure, label), (n, seconds) in daily.items():
        acc = totals[(measure, label, dev["site"])]
        acc[0] += n
        acc[1] += seconds
    add_up(conn, network_count_table, ["measure", "label", "site"], ["count", "seconds"], totals.items())
    add_up(conn, network_daily_table, ["day", "device_id", "measure", "label"], ["count", "seconds"],
           [((day, dev["id"], measure, label), acc) for (day, measure, label), acc in daily.items()])


def _outages(events: Columns, daily: dict[tuple, list]) -> None:
    types = events["type"]
    for i in [i for i, t in enumerate(types) if t == OUTAGE_TYPE]:
        start = events["start"][i]
        acc = daily[(day_start(start), OUTAGE, interface_kind(events["details"][i].get(INTERFACE_KIND)))]
        acc[0] += 1
        acc[1] += min(start + events["duration_s"][i], week_end(start)) - start


def _heartbeats(conn: Connection, dev: dict, heartbeats: list[dict], daily: dict[tuple, list]) -> None:
    """Signal time and blips of the new heartbeats; the device's newest reading. Blips are counted from the
    heartbeats newer than the last one read, in time order (an older one, sent late, says nothing of them)."""
    if not heartbeats:
        return
    t = network_device_table.c
    state = conn.execute(sa.select(t.time, t.blips_seen).where(t.device_id == dev["id"])  # PostgreSQL: locked until
                         .with_for_update()).one_or_none()  # the upsert, so two batches of one device count in turn
    last_time, seen = state if state is not None else (-math.inf, 0)
    newest = None
    for h in sorted(heartbeats, key=lambda h: h["time"]):
        details = h.get("details") or {}
        day = day_start(h["time"])
        band = signal_band(details.get(WIFI_SIGNAL_DBM))
        if band is not None:
            acc = daily[(day, SIGNAL, band)]
            acc[0] += 1
            acc[1] += h["active_s"]
        if h["time"] <= last_time:
            continue
        newest, last_time = h, h["time"]
        value = _blips_seen(details.get(BLIPS_TOTAL))
        if value is None:  # the sensor has counted none since the agent started (or is off)
            continue
        added = value - seen if value >= seen else value  # lower: the agent restarted and counts from 0
        added = min(added, max(1, math.floor(h["interval_s"] / MIN_BLIP_S)))
        seen = value
        if added:
            daily[(day, BLIP, "")][0] += added
    if newest is not None:
        band = signal_band((newest.get("details") or {}).get(WIFI_SIGNAL_DBM))
        conn.execute(prepared(conn, _note_device), {"device_id": dev["id"], "site": dev["site"],
                                                    "time": newest["time"], "band": band or "", "blips_seen": seen})


def _note_device(bind: Connection):
    stmt = insert(bind, network_device_table)
    new = stmt.excluded
    return stmt.on_conflict_do_update(index_elements=["device_id"], set_={
        "site": new.site, "time": new.time, "band": new.band, "blips_seen": new.blips_seen})
