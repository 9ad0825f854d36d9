"""The device's inventory counts are 64-bit integers, as the wire contract bounds them (``MAX_COUNT``).

They were ``INTEGER``: 32 bits on PostgreSQL, where an agent's count above
2**31 - 1 failed the whole batch (DataError, 500). SQLite's INTEGER already
holds 64 bits; its columns are altered too, so that both schemas equal the models.
"""

import sqlalchemy as sa

COUNTS = ("spool_dropped_total", "rejected_total", "sensor_errors_total")


def upgrade(op) -> None:
    with op.batch_alter_table("device") as batch:
        for name in COUNTS:
            batch.alter_column(name, existing_type=sa.Integer, type_=sa.BigInteger, existing_nullable=False)
