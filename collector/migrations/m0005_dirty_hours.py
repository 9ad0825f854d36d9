"""Dirty marks name the hours to recompute within their device-day, not the whole day.

A heartbeat every minute used to make its device's whole day be recomputed
every minute (about 10 ms at the end of a day, for each device); now only
the hours it can change are. Marks already there keep their whole day.
"""

import sqlalchemy as sa

DAY, HOUR = 86400, 3600


def upgrade(op) -> None:
    with op.batch_alter_table("impact_dirty") as batch:
        batch.add_column(sa.Column("first_hour", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("last_hour", sa.BigInteger, nullable=True))
    op.execute(f"UPDATE impact_dirty SET first_hour = day, last_hour = day + {DAY - HOUR}")
    with op.batch_alter_table("impact_dirty") as batch:
        batch.alter_column("first_hour", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column("last_hour", existing_type=sa.BigInteger, nullable=False)
