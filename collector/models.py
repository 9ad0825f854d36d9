"""The collector's tables (sqlmodel): devices, events, heartbeats, disruption counters.

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

metadata = SQLModel.metadata

_ID = 36  # a UUID in its text form
_DEVICE_ID = 64
_LABEL = 64
_APP = 128


class Device(SQLModel, table=True):
    """One endpoint, with the inventory and counters of its latest heartbeat."""

    __tablename__ = "device"

    id: str = Field(primary_key=True, max_length=_DEVICE_ID)
    first_seen: float  # collector clock, first batch received
    last_seen: Optional[float] = Field(default=None, index=True)  # collector clock, latest heartbeat received
    last_heartbeat: Optional[float] = None  # device clock: time of the newest heartbeat
    os: str = Field(default="unknown", max_length=_LABEL)
    os_version: str = Field(default="unknown", max_length=_LABEL)
    agent_version: str = Field(default="unknown", max_length=_LABEL)
    site: str = Field(default="unknown", max_length=_LABEL)
    department: str = Field(default="unknown", max_length=_LABEL)
    spool_dropped_total: int = 0
    rejected_total: int = 0
    sensor_errors_total: int = 0
    clock_skew_s: Optional[float] = None  # device clock minus collector clock at the latest batch
    last_details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


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


device_table: sa.Table = Device.__table__
event_table: sa.Table = Event.__table__
heartbeat_table: sa.Table = Heartbeat.__table__
disruption_count_table: sa.Table = DisruptionCount.__table__
