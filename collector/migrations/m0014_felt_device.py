"""Felt vs measured: which devices answered in which (site, department), so /metrics folds the answers of pairs
with too few answering devices (collector.metrics.families.felt_vs_measured).

Filled from the answers still stored (a button clicked, their event stored), under each device's current labels.
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
    op.execute(
        "INSERT INTO felt_device (device_id, site, department, answered_at) "
        "SELECT f.device_id, d.site, d.department, MAX(f.time) FROM feedback f "
        "JOIN event e ON e.device_id = f.device_id AND e.id = f.event_id "
        "JOIN device d ON d.id = f.device_id "
        "WHERE f.answer <> 'unanswered' AND e.type IN ('crash', 'hang', 'connectivity_loss') "
        "GROUP BY f.device_id, d.site, d.department")
