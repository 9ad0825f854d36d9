"""Felt vs measured: which devices answered in which (site, department), so /metrics folds the answers of pairs
with too few answering devices (collector.metrics.families.felt_vs_measured).

Not filled from the answers already stored: a device's labels when it answered are not kept, and its current ones
could count it in a pair it never answered in. Until their devices answer again, the pairs of earlier answers
count one answering device each, so /metrics folds them (stricter, never looser).
"""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "felt_device",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("answered_at", sa.Float, nullable=False),
    )
