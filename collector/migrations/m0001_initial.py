"""Devices, events, heartbeats and the per-label disruption counters."""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "device",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float),
        sa.Column("last_heartbeat", sa.Float),
        *(sa.Column(name, sa.String(64), nullable=False)
          for name in ("os", "os_version", "agent_version", "site", "department")),
        *(sa.Column(name, sa.Integer, nullable=False)
          for name in ("spool_dropped_total", "rejected_total", "sensor_errors_total")),
        sa.Column("clock_skew_s", sa.Float),
        sa.Column("last_details", sa.JSON, nullable=False),
    )
    op.create_index("ix_device_last_seen", "device", ["last_seen"])

    op.create_table(
        "event",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("app", sa.String(128), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("active_s", sa.Float),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_index("ix_event_start", "event", ["start"])
    op.create_index("ix_event_device_start", "event", ["device_id", "start"])
    op.create_index("ix_event_type_start", "event", ["type", "start"])

    op.create_table(
        "heartbeat",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("active_s", sa.Float, nullable=False),
    )
    op.create_index("ix_heartbeat_device_time", "heartbeat", ["device_id", "time"])
    op.create_index("ix_heartbeat_time", "heartbeat", ["time"])

    op.create_table(
        "disruption_count",
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(64), primary_key=True),
        sa.Column("os", sa.String(64), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
