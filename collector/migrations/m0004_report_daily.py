"""Per-day outage and version counts for the weekly report, filled from the stored events.

The report used to read them from the events' JSON details, about a second
at a million events; ingest now counts them on arrival
(``aggregates.marks.on_ingest``) and this migration counts the events
already stored, with the same function.
"""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "outage_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("cause", sa.String(32), primary_key=True),
        sa.Column("outages", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )
    op.create_table(
        "version_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    from collector.aggregates.marks import count_days_of_stored_events

    count_days_of_stored_events(op.get_bind())
