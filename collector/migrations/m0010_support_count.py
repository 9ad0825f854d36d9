"""Service-desk contacts counted when first stored, per channel and labels (the /metrics contacts counters)."""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "support_count",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(64), primary_key=True),
        sa.Column("contacts", sa.BigInteger, nullable=False),
    )
    # tickets stored before this migration: counted under the labels they hold now
    op.execute("INSERT INTO support_count (channel, site, department, contacts) "
               "SELECT channel, site, department, COUNT(*) FROM support_ticket GROUP BY channel, site, department")
