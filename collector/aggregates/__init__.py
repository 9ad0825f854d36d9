"""The impact model's figures, kept in the database: marked at ingest, recomputed in the background, read by queries.

Three modules, one job each (docs/impact-model.md, "Storage"):

- :mod:`.marks`: the ingest hook :func:`~.marks.on_ingest`, run inside the
  ingest transaction on the records stored for the first time. It marks the
  device-hours they can change in ``impact_dirty`` (one row per device-day with
  its first and last dirty hour, bumping ``generation``) and keeps the counts
  kept on arrival (disruptions by label, outages, application versions, recent
  disruptions, the counted application focus time). The collector passes it to its
  :class:`~collector.ingest.Ingestor` explicitly. Its
  :func:`~.marks.on_tickets` marks what a stored ticket changes
  (``collector.support.store.store_tickets`` calls it).
- :mod:`.refresh`: :func:`~.refresh.refresh`, run every few seconds by every
  collector process. It claims dirty device-days, recomputes their dirty hours
  from the stored events, heartbeats and service-desk tickets with
  :func:`collector.impact.device_hours`, replaces the device's rows in
  ``lost_hourly``/``active_hourly`` (with each hour's impacted seconds, model
  rule 7) and applies the *difference* to the label
  rollups (``lost_rollup`` by hour; ``lost_daily``, ``active_daily``,
  ``app_active_daily`` by UTC day, and ``device_daily`` per device and day;
  their sums over the trailing week, which the gauges read) and the all-time
  totals (``impact_total``), each row under the app label it was first rolled
  up under. On PostgreSQL the
  claim is ``SELECT ... FOR UPDATE SKIP LOCKED``, so replicas share the work and
  never recompute one device-day at the same time; a mark that arrives during a
  recompute bumps the generation and the day is recomputed again.
- :mod:`.queries`: the one reader of those tables for the report and the API;
  it never writes.
- :mod:`.changes`: application versions and OS builds new to the fleet, recorded
  by the ingest hook (``marks.on_ingest`` calls it), their figures before and after
  each device's move recomputed by a background job and read by /metrics and the report.
- :mod:`.discover`: which uncatalogued executables get their own app label
  (``discovered_app``), admitted at ingest, chosen by the refresher.

This module holds what the three share: units of time and the model's settings.
"""

from __future__ import annotations

import math

from collector import impact
from collector.config import CollectorConfig
from contract.records import UNKNOWN

DAY = 86400
HOUR = impact.HOUR
OTHER = "other"  # the label of what is folded: uncatalogued applications, unknown causes
UNKNOWN_VERSION = "unknown"  # the version label of events whose details name none (counted on arrival)
RECENT_S = 900.0  # "devices disrupted now": a disruption going on or started in the last 15 minutes
MAX_HEARTBEAT_S = DAY  # a heartbeat is looked for at most one day after the window it covers


def day_start(t: float) -> int:
    """The Unix time of the start of the UTC day holding ``t``."""
    return int(math.floor(t / DAY) * DAY)


def week_end(t: float) -> float:
    """The end of the ISO week (next Monday 00:00 UTC) of Unix time ``t``."""
    days = math.floor(t / DAY)
    return (days - (days + 3) % 7 + 7) * DAY  # 1970-01-01 was a Thursday


def model_name(vendor: str, model: str) -> str:
    """A device's hardware model as reports and /metrics name it: vendor and model, e.g. "LENOVO ThinkPad T14 Gen 3"
    (the model alone where it already starts with the vendor's name or the vendor is unknown)."""
    vendor, model = vendor.strip(), model.strip()
    if not vendor or vendor == UNKNOWN or model.lower().startswith(vendor.lower()):
        return model or UNKNOWN
    return f"{vendor} {model}"


def app_version(value: object) -> str | None:
    """An event's ``app_version`` detail as counted: text of at most 64 characters, None if absent or empty."""
    return None if value is None or value == "" else str(value)[:64]


def week_window(now: float) -> tuple[int, int]:
    """The trailing week of the gauges: the 7 UTC days ending with today, as ``[start, end)``."""
    today = day_start(now)
    return today - 6 * DAY, today + DAY


def app_label(config: CollectorConfig, event_type: str, app: str) -> str:
    """The app label of lost time in the rollups and /metrics: a ticket's channel (one of a few,
    ``collector.support.tickets.CHANNELS``), else the catalogued application or ``other``."""
    return app if event_type == impact.TICKET else config.app_label(app)


def model_config(config: CollectorConfig) -> impact.ModelConfig:
    """The ``[model]`` settings of a collector config (defaults when absent)."""
    return config.sections.get("model") or impact.ModelConfig()
