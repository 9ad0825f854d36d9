"""Impact model aggregates: hourly lost/active time per device, label rollups, totals, dirty marks, recent disruptions."""

import sqlalchemy as sa

_LABELS = ("site", "department")


def _labels(*names):
    return [sa.Column(n, sa.String(64), primary_key=True) for n in names]


def upgrade(op) -> None:
    op.create_table(
        "lost_hourly",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        *(sa.Column(n, sa.String(64), nullable=False) for n in ("site", "department", "os")),
        sa.Column("lost_s", sa.Float, nullable=False),
        sa.Column("disruptions", sa.Integer, nullable=False),
    )
    op.create_index("ix_lost_hourly_hour", "lost_hourly", ["hour"])

    op.create_table(
        "active_hourly",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("hour", sa.BigInteger, primary_key=True),
        *(sa.Column(n, sa.String(64), nullable=False) for n in ("site", "department", "os")),
        sa.Column("active_s", sa.Float, nullable=False),
    )
    op.create_index("ix_active_hourly_hour", "active_hourly", ["hour"])

    op.create_table(
        "impact_dirty",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
    )

    op.create_table(
        "lost_rollup",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        *_labels(*_LABELS),
        sa.Column("lost_s", sa.Float, nullable=False),
        sa.Column("disruptions", sa.Integer, nullable=False),
    )
    op.create_table(
        "lost_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        *_labels(*_LABELS),
        sa.Column("lost_s", sa.Float, nullable=False),
    )
    op.create_table(
        "active_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        *_labels(*_LABELS),
        sa.Column("active_s", sa.Float, nullable=False),
    )
    op.create_table(
        "app_active_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("active_s", sa.Float, nullable=False),
    )
    op.create_table(
        "lost_week",
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        *_labels(*_LABELS),
        sa.Column("lost_s", sa.Float, nullable=False),
    )
    op.create_table("active_week", *_labels(*_LABELS), sa.Column("active_s", sa.Float, nullable=False))
    op.create_table(
        "app_active_week",
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("active_s", sa.Float, nullable=False),
    )
    op.create_table(
        "week_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_day", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO week_state (id, first_day) VALUES (1, 0)")  # empty tables cover every day
    op.create_table(
        "impact_total",
        sa.Column("metric", sa.String(16), primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        *_labels(*_LABELS),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("exported", sa.Float, nullable=False),
    )
    op.create_table(
        "outage_count",
        sa.Column("cause", sa.String(32), primary_key=True),
        *_labels(*_LABELS),
        sa.Column("outages", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )
    op.create_table(
        "app_version_count",
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "recent_disruption",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("end", sa.Float, nullable=False),
    )
    op.create_index("ix_recent_disruption_end", "recent_disruption", ["end"])
