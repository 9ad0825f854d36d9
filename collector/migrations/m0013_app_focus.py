"""Time in applications: the focus that counts per usage row, and its daily rollup by app label (issue 14).

Rows stored before this migration count 0 until their period is sent again or a heartbeat overlapping it
arrives (then ingest counts them in full).
"""

import sqlalchemy as sa


def upgrade(op) -> None:
    with op.batch_alter_table("app_usage") as table:
        table.add_column(sa.Column("end", sa.Float, nullable=False, server_default="0"))
        table.add_column(sa.Column("counted_s", sa.Float, nullable=False, server_default="0"))
    op.execute('UPDATE app_usage SET "end" = start + interval_s')
    op.create_index("ix_app_usage_device_end", "app_usage", ["device_id", "end"])
    op.create_table(
        "app_focus_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(64), primary_key=True),
        sa.Column("focus_s", sa.Float, nullable=False),
    )
