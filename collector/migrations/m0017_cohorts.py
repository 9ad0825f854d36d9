"""Device cohorts (issue 15): the waits of boots and sign-ins counted on arrival, and lost and active seconds and
disruptions per device and day with their trailing-week sums (grouped by cohort on /metrics).

The per-device figures are filled from the hourly aggregates already computed; the waits start empty (agents
sent no boot or sign-in before this version).
"""

import sqlalchemy as sa



def _sums() -> list[sa.Column]:
    return [sa.Column("lost_s", sa.Float, nullable=False, server_default="0"),
            sa.Column("active_s", sa.Float, nullable=False, server_default="0"),
            sa.Column("disruptions", sa.BigInteger, nullable=False, server_default="0")]


def upgrade(op) -> None:
    op.create_table(
        "wait_count",
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("hw_model", sa.String(129), primary_key=True),
        sa.Column("os_build", sa.String(64), primary_key=True),
        sa.Column("le", sa.Float, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("slow", sa.BigInteger, nullable=False),
    )
    op.create_table("device_daily", sa.Column("day", sa.BigInteger, primary_key=True),
                    sa.Column("device_id", sa.String(64), primary_key=True), *_sums())
    op.create_table("device_week", sa.Column("device_id", sa.String(64), primary_key=True),
                    *_sums())
    for statement in BACKFILL:
        op.execute(statement)


# The per-device figures from the hourly aggregates, as the refresher keeps them (tests compare the two).
BACKFILL = (
    "INSERT INTO device_daily (day, device_id, lost_s, active_s, disruptions) "
    "SELECT day, device_id, SUM(lost_s), SUM(active_s), SUM(disruptions) FROM ("
    " SELECT (hour / 86400) * 86400 AS day, device_id, lost_s, 0.0 AS active_s, disruptions FROM lost_hourly"
    " UNION ALL SELECT (hour / 86400) * 86400, device_id, 0.0, active_s, 0 FROM active_hourly) AS rows"
    " GROUP BY day, device_id",
    "INSERT INTO device_week (device_id, lost_s, active_s, disruptions) "
    "SELECT device_id, SUM(lost_s), SUM(active_s), SUM(disruptions) FROM device_daily "
    "WHERE day >= (SELECT first_day FROM week_state WHERE id = 1) GROUP BY device_id",
)
