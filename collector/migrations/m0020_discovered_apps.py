"""Discovered applications (issue 15): the label each lost-time row was rolled up under, lost time per raw
application name by day and over the trailing week, and the set of uncatalogued executables exported by name.

Rows computed before keep a null label: the refresher reads it as the catalogue's label (what they were rolled
up under). ``app_lost_daily`` starts empty: executables are discovered from the lost time computed from now on.
"""

import sqlalchemy as sa


def upgrade(op) -> None:
    with op.batch_alter_table("lost_hourly") as batch:
        batch.add_column(sa.Column("label", sa.String(128), nullable=True))
    op.create_table(
        "app_lost_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("lost_s", sa.Float, nullable=False),
    )
    op.create_table(
        "app_lost_week",
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("lost_s", sa.Float, nullable=False),
    )
    op.create_table(
        "discovered_app",
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("since", sa.Float, nullable=False),
    )
