"""Network quality (issue 15): outages by interface kind, time per Wi-Fi signal band and blips, counted on arrival
(``network_count`` all time, ``network_daily`` per device and day), and each device's newest reading.

Not filled from what is stored: heartbeat details are not kept (only the device's newest), so the counts start
with the migration.
"""

import sqlalchemy as sa


def upgrade(op) -> None:
    def counts():
        return sa.Column("count", sa.BigInteger, nullable=False), sa.Column("seconds", sa.Float, nullable=False)

    op.create_table(
        "network_count",
        sa.Column("measure", sa.String(16), primary_key=True),
        sa.Column("label", sa.String(16), primary_key=True),
        sa.Column("site", sa.String(64), primary_key=True),
        *counts(),
    )
    op.create_table(
        "network_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("measure", sa.String(16), primary_key=True),
        sa.Column("label", sa.String(16), primary_key=True),
        *counts(),
    )
    op.create_table(
        "network_device",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("blips_seen", sa.BigInteger, nullable=False),
    )
