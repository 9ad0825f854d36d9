"""The collector's tables (sqlmodel): devices, events, heartbeats, disruption counters, the impact aggregates.

Times are stored as float Unix seconds (REAL on SQLite, DOUBLE PRECISION on
PostgreSQL), not as timestamps: the wire contract already yields floats, so
ingest converts nothing; range queries on a float index are as fast as on a
timestamp on both databases; and SQLite, which has no timestamp type, neither
stores them as text nor loses the time zone. The API formats them as RFC 3339.

Schema changes go through :mod:`collector.migrations`; a test checks that the
migrated schema equals this metadata.
"""

from __future__ import annotations

from typing import Any, Optional

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from contract.records import INVENTORY, Kind, Rule

metadata = SQLModel.metadata

_ID = 36  # a UUID in its text form
_DEVICE_ID = 64
_LABEL = 64
_APP = 128


def _inventory_column(rule: Rule) -> sa.Column:
    """The device column of a heartbeat field the collector keeps (``contract.records.INVENTORY``)."""
    kinds = {Kind.TEXT: sa.String(rule.max_len), Kind.COUNT: sa.BigInteger}  # counts: 64-bit (contract.records.MAX_COUNT)
    # a nullable one is an identity key (contract.identity), indexed: service-desk tickets look devices up by it
    return sa.Column(rule.name, kinds[rule.kind], nullable=rule.nullable, index=rule.nullable)


# One endpoint, with the inventory and counters of its latest heartbeat. A plain table rather than a model
# class: its inventory columns are the heartbeat fields the contract marks as inventory, one per field.
device_table = sa.Table(
    "device", metadata,
    sa.Column("id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("first_seen", sa.Float, nullable=False),  # collector clock, first batch received
    sa.Column("last_seen", sa.Float, index=True),  # collector clock, latest heartbeat received
    sa.Column("last_heartbeat", sa.Float),  # device clock: time of the newest heartbeat
    *map(_inventory_column, INVENTORY),
    sa.Column("clock_skew_s", sa.Float),  # device clock minus collector clock at the latest batch
    sa.Column("last_details", sa.JSON, nullable=False),  # the newest heartbeat's details
)


# A device id bound to its own secret (collector.devices): only the secret's SHA-256 is kept. A device never
# enrolled has no row; a revoked one keeps its row (and its data), with ``revoked_at`` set.
device_credential_table = sa.Table(
    "device_credential", metadata,
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("secret_sha256", sa.String(64)),  # hex; NULL: revoked before it ever enrolled
    sa.Column("enrolled_at", sa.Float),  # collector clock
    sa.Column("revoked_at", sa.Float),  # collector clock; NULL while the credential is good
)

# How many records of a device overlap each UTC day (collector.quota): what bounds one device-day's recompute.
device_day_load_table = sa.Table(
    "device_day_load", metadata,
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("day", sa.BigInteger, primary_key=True),  # Unix seconds of the UTC midnight
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("heartbeats", sa.Integer, nullable=False),
    sa.Column("feedback", sa.Integer, nullable=False, server_default="0"),
    sa.Column("usage", sa.Integer, nullable=False, server_default="0"),
)

# The pulse's answers (contract.records.Feedback), one per device and event asked about (the first one sent).
# Joined to the event at read time on (device_id, event_id), so an answer may arrive before its event.
feedback_table = sa.Table(
    "feedback", metadata,
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("event_id", sa.String(_ID), primary_key=True),
    sa.Column("id", sa.String(_ID), nullable=False),
    sa.Column("time", sa.Float, nullable=False),  # when the question was shown (collector clock after correction)
    sa.Column("answer", sa.String(32), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Index("ix_feedback_time", "time"),
)

# Focused time per device, catalogued application and period (contract.records.Usage): the largest total sent
# for the period is kept, so a resent or restarted period's total replaces the smaller one, never adds to it.
# ``counted_s`` is what counts of it (collector.ingest: the period's totals scaled to fit its length and the
# device's active seconds in it), kept so that a change of either adds only its difference to the rollups.
app_usage_table = sa.Table(
    "app_usage", metadata,
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("app", sa.String(_APP), primary_key=True),
    sa.Column("start", sa.Float, primary_key=True),
    sa.Column("interval_s", sa.Float, nullable=False),
    sa.Column("focus_s", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),  # start + interval_s
    sa.Column("counted_s", sa.Float, nullable=False, server_default="0"),
    sa.Index("ix_app_usage_start", "start"),
    sa.Index("ix_app_usage_device_end", "device_id", "end"),  # a device's periods that new records overlap
)

# Counted focus seconds per UTC day of the period's start, app label (catalogued name or ``other``) and the
# device's labels when it arrived (collector.aggregates.marks): the hours of use the weekly report divides by.
app_focus_daily_table = sa.Table(
    "app_focus_daily", metadata,
    sa.Column("day", sa.BigInteger, primary_key=True),
    sa.Column("app", sa.String(_APP), primary_key=True),
    sa.Column("site", sa.String(_LABEL), primary_key=True),
    sa.Column("department", sa.String(_LABEL), primary_key=True),
    sa.Column("focus_s", sa.Float, nullable=False),
)

# The pulse's questions per answer and labels, each (answer, event) pair counted once when the later of the two is
# stored (collector.aggregates.felt): how often people were asked and what they said, beside the model's lost
# seconds of those events alone (collector.impact.alone_s) and the seconds the answers stand for (contract.answers).
felt_count_table = sa.Table(
    "felt_count", metadata,
    sa.Column("type", sa.String(32), primary_key=True),
    sa.Column("app", sa.String(_APP), primary_key=True),  # the /metrics label: catalogued name or other
    sa.Column("site", sa.String(_LABEL), primary_key=True),  # the device's when counted
    sa.Column("department", sa.String(_LABEL), primary_key=True),
    sa.Column("answer", sa.String(32), primary_key=True),
    sa.Column("questions", sa.BigInteger, nullable=False),
    sa.Column("model_lost_s", sa.Float, nullable=False),
    sa.Column("felt_s", sa.Float, nullable=False),
)

# Who answered where: per device, the (site, department) it had when an answer of it with a button clicked was last
# counted in felt_count, and that answer's time (retention purges the row with the answer). /metrics folds the
# answers of a pair with fewer answering devices than [report] min_group_size (collector.metrics.families).
# One row per device, so the devices of several pairs add up without counting a device twice.
felt_device_table = sa.Table(
    "felt_device", metadata,
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("site", sa.String(_LABEL), nullable=False),
    sa.Column("department", sa.String(_LABEL), nullable=False),
    sa.Column("answered_at", sa.Float, nullable=False),
)


# Service-desk tickets (collector.support.tickets.Ticket), one row per (source, ticket id): read again, updated.
support_ticket_table = sa.Table(
    "support_ticket", metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("ticket_id", sa.String(128), primary_key=True),
    sa.Column("opened_at", sa.Float, nullable=False, index=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("resolved_at", sa.Float),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(_LABEL), nullable=False),
    sa.Column("category", sa.String(128), nullable=False),
    sa.Column("work_stopping", sa.Boolean, nullable=False),
    sa.Column("site", sa.String(_LABEL), nullable=False),  # the matched device's, else the ticket's ("" unknown)
    sa.Column("department", sa.String(_LABEL), nullable=False),
    sa.Column("host_key", sa.String(32)),
    sa.Column("asset_key", sa.String(32)),
    sa.Column("account_key", sa.String(32)),
    sa.Column("device_id", sa.String(_DEVICE_ID), index=True),  # the device it was joined to, if any
    sa.Column("stored_at", sa.Float, nullable=False),  # collector clock, first stored
    sa.Column("changed_at", sa.Float, nullable=False),  # collector clock, last changed
)

# Tickets stored so far per channel and labels, counted when first stored (collector.support.store): the
# contacts counters of /metrics, which never go down, whatever later updates of a ticket change.
support_count_table = sa.Table(
    "support_count", metadata,
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("site", sa.String(_LABEL), primary_key=True),  # the ticket's row when first stored
    sa.Column("department", sa.String(_LABEL), primary_key=True),
    sa.Column("contacts", sa.BigInteger, nullable=False),
)

# Where each polled source is: its cursor (opaque to all but its connector) and its health.
support_source_table = sa.Table(
    "support_source", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("cursor", sa.Text),  # NULL: never polled successfully
    sa.Column("last_success", sa.Float),  # collector clock
    sa.Column("last_attempt", sa.Float),
    sa.Column("last_error", sa.String(200)),  # NULL after a success; never holds a credential
    sa.Column("failures_total", sa.BigInteger, nullable=False),
    sa.Column("fetched_total", sa.BigInteger, nullable=False),  # records read
    sa.Column("skipped_total", sa.BigInteger, nullable=False),  # records refused (collector.support.tickets.problem)
)

# The waits of the routine measurements (each boot, each sign-in) counted on arrival (collector.aggregates.marks),
# per type, the device's cohort then (hardware model as collector.aggregates.model_name names it, OS build as
# sent) and duration bucket (its upper bound in seconds, inf for the last): how many, their seconds, how many slow
# (beyond the agent's threshold). The histograms of /metrics.
wait_count_table = sa.Table(
    "wait_count", metadata,
    sa.Column("type", sa.String(32), primary_key=True),
    sa.Column("hw_model", sa.String(2 * _LABEL + 1), primary_key=True),
    sa.Column("os_build", sa.String(_LABEL), primary_key=True),
    sa.Column("le", sa.Float, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("slow", sa.BigInteger, nullable=False),
)

# Lost and active seconds and disruptions per device and UTC day (collector.aggregates.refresh), and their sums
# over the trailing week per device: /metrics groups the week's by the devices' cohorts (device table).
device_daily_table = sa.Table(
    "device_daily", metadata,
    sa.Column("day", sa.BigInteger, primary_key=True),
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("lost_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("active_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("disruptions", sa.BigInteger, nullable=False, server_default="0"),
)
device_week_table = sa.Table(
    "device_week", metadata,
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("lost_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("active_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("disruptions", sa.BigInteger, nullable=False, server_default="0"),
)


# Changes (collector.aggregates.changes): per device, each application version and OS build it was seen with,
# from when (its first record with the value, ``adopted_at``, and that hour) and what it had before (``previous``:
# NULL when the value is the first the collector saw of that subject on the device, a baseline, not a move).
# ``last_seen`` moves forward at most daily; retention drops values not seen for the retention period.
device_change_table = sa.Table(
    "device_change", metadata,
    sa.Column("device_id", sa.String(_DEVICE_ID), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # app_version | os_build
    sa.Column("subject", sa.String(_APP), primary_key=True),  # the application as sent, or "os"
    sa.Column("value", sa.String(_LABEL), primary_key=True),
    sa.Column("adopted_at", sa.Float, nullable=False),
    sa.Column("adopted_hour", sa.BigInteger, nullable=False),
    sa.Column("previous", sa.String(_LABEL)),
    sa.Column("last_seen", sa.Float, nullable=False, index=True),
    sa.Index("ix_device_change_value", "kind", "subject", "value"),
)

# The fleet's changes: a value that at least [report] min_group_size devices moved to, first seen at the earliest
# record holding it; ``adopters`` the devices that moved to it. The figures before
# and after each adopter's move (collector.aggregates.changes.effects) are stored by the scoring job (``scored_at``).
change_table = sa.Table(
    "change", metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("subject", sa.String(_APP), primary_key=True),
    sa.Column("value", sa.String(_LABEL), primary_key=True),
    sa.Column("first_seen", sa.Float, nullable=False, index=True),
    sa.Column("adopters", sa.Integer, nullable=False),
    sa.Column("scored_at", sa.Float),
    sa.Column("devices", sa.Integer, nullable=False, server_default="0"),  # adopters with data on both sides
    sa.Column("before_active_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("before_disruptions", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("before_lost_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("after_active_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("after_disruptions", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("after_lost_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("p_value", sa.Float),
    sa.Column("verdict", sa.String(16)),
)


class Event(SQLModel, table=True):
    """One disruption on one device, as sent (the id is the agent's UUIDv7)."""

    __tablename__ = "event"
    __table_args__ = (
        sa.Index("ix_event_start", "start"),
        sa.Index("ix_event_device_start", "device_id", "start"),
        sa.Index("ix_event_type_start", "type", "start"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    device_id: str = Field(max_length=_DEVICE_ID)
    type: str = Field(max_length=32)
    app: str = Field(max_length=_APP)
    start: float
    duration_s: float
    end: float  # start + duration_s, kept for overlap queries
    severity: str = Field(max_length=16)
    active_s: Optional[float] = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    received_at: float  # collector clock


class Heartbeat(SQLModel, table=True):
    """The end of one interval of an agent's life: the employee's active seconds in it."""

    __tablename__ = "heartbeat"
    __table_args__ = (
        sa.Index("ix_heartbeat_device_time", "device_id", "time"),
        sa.Index("ix_heartbeat_time", "time"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    device_id: str = Field(max_length=_DEVICE_ID)
    time: float
    interval_s: float
    active_s: float


class DisruptionCount(SQLModel, table=True):
    """Disruptions stored so far per label set; kept up to date at ingest, read by /metrics.

    ``app`` is the Prometheus label (catalogued name or ``other``) and site,
    department and os those of the device when the event arrived.
    """

    __tablename__ = "disruption_count"

    type: str = Field(primary_key=True, max_length=32)
    app: str = Field(primary_key=True, max_length=_APP)
    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    os: str = Field(primary_key=True, max_length=_LABEL)
    count: int = 0


event_table: sa.Table = Event.__table__
heartbeat_table: sa.Table = Heartbeat.__table__
disruption_count_table: sa.Table = DisruptionCount.__table__


# ------------------------------------------------- impact model aggregates
# Kept by collector.aggregates; see docs/impact-model.md. Hours and days are
# integer Unix seconds of the UTC hour or day start.


class LostHourly(SQLModel, table=True):
    """Lost seconds and disruptions of one device in one clock hour, by cause (type and raw app)."""

    __tablename__ = "lost_hourly"
    __table_args__ = (
        sa.Index("ix_lost_hourly_hour", "hour"),
        # covering, for the weekly report's scans per device and type (migration 3)
        sa.Index("ix_lost_hourly_device_type_hour", "device_id", "type", "hour", "app", "site", "department", "lost_s",
                 "disruptions"),
    )

    device_id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    hour: int = Field(primary_key=True, sa_type=sa.BigInteger)
    type: str = Field(primary_key=True, max_length=32)
    app: str = Field(primary_key=True, max_length=_APP)
    site: str = Field(max_length=_LABEL)  # the device's labels when the hour was computed
    department: str = Field(max_length=_LABEL)
    os: str = Field(max_length=_LABEL)
    lost_s: float = 0.0
    disruptions: int = 0  # events that started in this hour
    # the app label the row was rolled up under (collector.aggregates.discover); None before migration 20
    label: str | None = Field(default=None, max_length=_APP)


class ActiveHourly(SQLModel, table=True):
    """Employee-active seconds of one device in one clock hour (from heartbeats)."""

    __tablename__ = "active_hourly"
    __table_args__ = (
        sa.Index("ix_active_hourly_hour", "hour"),
        sa.Index("ix_active_hourly_device_hour", "device_id", "hour", "site", "department", "active_s",  # report
                 "impacted_s"),
    )

    device_id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    hour: int = Field(primary_key=True, sa_type=sa.BigInteger)
    site: str = Field(max_length=_LABEL)
    department: str = Field(max_length=_LABEL)
    os: str = Field(max_length=_LABEL)
    active_s: float = 0.0
    impacted_s: float = 0.0  # active_s if the hour's lost time reached impacted_hour_lost_s, else 0 (model v3)


class ImpactDirty(SQLModel, table=True):
    """A device-day whose hourly figures must be recomputed, from ``first_hour`` to ``last_hour`` (both
    included); ``generation`` grows at each new mark."""

    __tablename__ = "impact_dirty"

    device_id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    generation: int = 1
    first_hour: int = Field(sa_type=sa.BigInteger)
    last_hour: int = Field(sa_type=sa.BigInteger)


class LostRollup(SQLModel, table=True):
    """Lost seconds and disruptions per clock hour and Prometheus label set (app = label)."""

    __tablename__ = "lost_rollup"

    hour: int = Field(primary_key=True, sa_type=sa.BigInteger)
    type: str = Field(primary_key=True, max_length=32)
    app: str = Field(primary_key=True, max_length=_APP)
    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    lost_s: float = 0.0
    disruptions: int = 0


class LostDaily(SQLModel, table=True):
    """Lost seconds per UTC day and Prometheus label set: the trailing-week gauges read these."""

    __tablename__ = "lost_daily"

    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    type: str = Field(primary_key=True, max_length=32)
    app: str = Field(primary_key=True, max_length=_APP)
    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    lost_s: float = 0.0


class ActiveDaily(SQLModel, table=True):
    """Active seconds per UTC day, site and department, and those of the impacted device-hours."""

    __tablename__ = "active_daily"

    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    active_s: float = 0.0
    impacted_s: float = 0.0


class AppActiveDaily(SQLModel, table=True):
    """Per UTC day and app label: active seconds of the devices on the days they reported the app, and those of
    the device-hours the app's own lost time impacted."""

    __tablename__ = "app_active_daily"

    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    app: str = Field(primary_key=True, max_length=_APP)
    active_s: float = 0.0
    impacted_s: float = 0.0


class LostWeek(SQLModel, table=True):
    """``lost_daily`` summed over the days from ``week_state.first_day`` on (the trailing week)."""

    __tablename__ = "lost_week"

    type: str = Field(primary_key=True, max_length=32)
    app: str = Field(primary_key=True, max_length=_APP)
    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    lost_s: float = 0.0


class ActiveWeek(SQLModel, table=True):
    """``active_daily`` summed over the trailing week."""

    __tablename__ = "active_week"

    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    active_s: float = 0.0
    impacted_s: float = 0.0


class AppActiveWeek(SQLModel, table=True):
    """``app_active_daily`` summed over the trailing week."""

    __tablename__ = "app_active_week"

    app: str = Field(primary_key=True, max_length=_APP)
    active_s: float = 0.0
    impacted_s: float = 0.0


class WeekState(SQLModel, table=True):
    """One row: the first UTC day the ``*_week`` tables cover (moved forward by the refresher)."""

    __tablename__ = "week_state"

    id: int = Field(primary_key=True)
    first_day: int = Field(sa_type=sa.BigInteger)


class ImpactTotal(SQLModel, table=True):
    """All-time lost, active or application focus seconds per label set, for the _total counters.

    ``value`` is the exact sum of the hourly rows (of the counted focus, for
    ``focus``); ``exported`` its high-water mark, which /metrics exports so a
    counter never goes down.
    """

    __tablename__ = "impact_total"

    metric: str = Field(primary_key=True, max_length=16)  # lost | active | impacted | focus
    type: str = Field(primary_key=True, max_length=32)  # "" for active, impacted and focus
    app: str = Field(primary_key=True, max_length=_APP)  # "" for active and impacted
    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    value: float = 0.0
    exported: float = 0.0


class OutageCount(SQLModel, table=True):
    """Connectivity outages received and their wall-clock seconds, per cause and device labels."""

    __tablename__ = "outage_count"

    cause: str = Field(primary_key=True, max_length=32)
    site: str = Field(primary_key=True, max_length=_LABEL)
    department: str = Field(primary_key=True, max_length=_LABEL)
    outages: int = 0
    seconds: float = 0.0


class AppVersionCount(SQLModel, table=True):
    """Disruptions of catalogued and discovered applications received (under the label of their arrival), per
    version and type."""

    __tablename__ = "app_version_count"

    app: str = Field(primary_key=True, max_length=_APP)
    version: str = Field(primary_key=True, max_length=_LABEL)
    type: str = Field(primary_key=True, max_length=32)
    count: int = 0


class OutageDaily(SQLModel, table=True):
    """Connectivity outages per UTC day of their start, device and cause, with their offline seconds up to the
    end of that ISO week (the weekly report's connectivity section)."""

    __tablename__ = "outage_daily"

    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    device_id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    cause: str = Field(primary_key=True, max_length=32)
    outages: int = 0
    seconds: float = 0.0


class VersionDaily(SQLModel, table=True):
    """Disruptions per UTC day of their start, application, reported version and type (the weekly report's
    versions to blame); only events whose details name a version."""

    __tablename__ = "version_daily"

    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    app: str = Field(primary_key=True, max_length=_APP)
    version: str = Field(primary_key=True, max_length=_LABEL)
    type: str = Field(primary_key=True, max_length=32)
    count: int = 0


class RecentDisruption(SQLModel, table=True):
    """The latest end of each device's disruptions per type, for the devices disrupted right now (pruned)."""

    __tablename__ = "recent_disruption"

    device_id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    type: str = Field(primary_key=True, max_length=32)
    site: str = Field(max_length=_LABEL)
    end: float = Field(index=True)


class NetworkCount(SQLModel, table=True):
    """Network quality counted on arrival, all time, per site (collector.aggregates.network): connectivity outages
    and their wall-clock seconds per interface kind (``measure`` "outage", ``label`` the kind), working seconds per
    Wi-Fi signal band ("signal", the band; ``count`` the heartbeats), blips ("blip", label "")."""

    __tablename__ = "network_count"

    measure: str = Field(primary_key=True, max_length=16)
    label: str = Field(primary_key=True, max_length=16)
    site: str = Field(primary_key=True, max_length=_LABEL)
    count: int = Field(default=0, sa_type=sa.BigInteger)
    seconds: float = 0.0


class NetworkDaily(SQLModel, table=True):
    """The same counts per UTC day and device (outages by the day of their start, with their offline seconds up to
    the end of that ISO week; signal and blips by the day of the heartbeat): the weekly report's network line."""

    __tablename__ = "network_daily"

    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    device_id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    measure: str = Field(primary_key=True, max_length=16)
    label: str = Field(primary_key=True, max_length=16)
    count: int = Field(default=0, sa_type=sa.BigInteger)
    seconds: float = 0.0


class NetworkDevice(SQLModel, table=True):
    """Each device's newest network reading: the Wi-Fi signal band of its newest heartbeat ("" when not on Wi-Fi),
    and the agent's running blip count last seen (to count its increments)."""

    __tablename__ = "network_device"

    device_id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    site: str = Field(max_length=_LABEL)
    time: float  # device clock: the newest heartbeat read
    band: str = Field(max_length=16)
    blips_seen: int = Field(default=0, sa_type=sa.BigInteger)


lost_hourly_table: sa.Table = LostHourly.__table__
active_hourly_table: sa.Table = ActiveHourly.__table__
impact_dirty_table: sa.Table = ImpactDirty.__table__
lost_rollup_table: sa.Table = LostRollup.__table__
lost_daily_table: sa.Table = LostDaily.__table__
active_daily_table: sa.Table = ActiveDaily.__table__
app_active_daily_table: sa.Table = AppActiveDaily.__table__
lost_week_table: sa.Table = LostWeek.__table__
active_week_table: sa.Table = ActiveWeek.__table__
app_active_week_table: sa.Table = AppActiveWeek.__table__
week_state_table: sa.Table = WeekState.__table__
impact_total_table: sa.Table = ImpactTotal.__table__
outage_count_table: sa.Table = OutageCount.__table__
app_version_count_table: sa.Table = AppVersionCount.__table__
recent_disruption_table: sa.Table = RecentDisruption.__table__
outage_daily_table: sa.Table = OutageDaily.__table__
version_daily_table: sa.Table = VersionDaily.__table__
network_count_table: sa.Table = NetworkCount.__table__
network_daily_table: sa.Table = NetworkDaily.__table__
network_device_table: sa.Table = NetworkDevice.__table__


# ------------------------------------------------- discovered applications
# Kept by collector.aggregates.discover: uncatalogued executables that get their own app label.


class AppLostDaily(SQLModel, table=True):
    """Lost seconds per UTC day and raw application name of the types whose ``app`` names one (the refresher)."""

    __tablename__ = "app_lost_daily"

    day: int = Field(primary_key=True, sa_type=sa.BigInteger)
    app: str = Field(primary_key=True, max_length=_APP)
    lost_s: float = 0.0


class AppLostWeek(SQLModel, table=True):
    """``app_lost_daily`` summed over the trailing week: what the discovered applications are chosen by."""

    __tablename__ = "app_lost_week"

    app: str = Field(primary_key=True, max_length=_APP)
    lost_s: float = 0.0


class DiscoveredApp(SQLModel, table=True):
    """The uncatalogued executables exported by name now (at most ``[collector] discovered_apps``)."""

    __tablename__ = "discovered_app"

    app: str = Field(primary_key=True, max_length=_APP)
    since: float  # when it was discovered: its counters start then


app_lost_daily_table: sa.Table = AppLostDaily.__table__
app_lost_week_table: sa.Table = AppLostWeek.__table__
discovered_app_table: sa.Table = DiscoveredApp.__table__
