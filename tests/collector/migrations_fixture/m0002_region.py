"""Add a column and backfill it from existing rows (batch mode, so SQLite rebuilds the table)."""

import sqlalchemy as sa


def upgrade(op) -> None:
    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("region", sa.String(8)))
    op.execute(sa.text("UPDATE device SET region = 'EU' WHERE site = 'Paris'"))
