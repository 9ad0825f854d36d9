"""The per-device quota: how many records of a device overlap each UTC day (collector.quota, docs/security.md).

Counting starts with the upgrade: records stored before it are not counted.
"""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "device_day_load",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("heartbeats", sa.Integer, nullable=False),
    )
