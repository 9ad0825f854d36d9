"""Changes as data (issue 15): each device's application versions and OS builds with when it moved to them
(``device_change``), and the fleet's changes with their figures before and after (``change``).

Recorded from the records stored after this migration: the versions and builds already in the database are
the baseline, not changes.
"""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "device_change",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(64), primary_key=True),
        sa.Column("adopted_at", sa.Float, nullable=False),
        sa.Column("adopted_hour", sa.BigInteger, nullable=False),
        sa.Column("previous", sa.String(64)),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_index("ix_device_change_last_seen", "device_change", ["last_seen"])
    op.create_index("ix_device_change_value", "device_change", ["kind", "subject", "value"])
    op.create_table(
        "change",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(64), primary_key=True),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("adopters", sa.Integer, nullable=False),
            sa.Column("scored_at", sa.Float),
        sa.Column("devices", sa.Integer, nullable=False, server_default="0"),
        sa.Column("before_active_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("before_disruptions", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("before_lost_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("after_active_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("after_disruptions", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("after_lost_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("p_value", sa.Float),
        sa.Column("verdict", sa.String(16)),
    )
    op.create_index("ix_change_first_seen", "change", ["first_seen"])
