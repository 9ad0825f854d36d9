"""The pulse's answers and the app focus time (issue 14), and their share of the per-device quota."""

import sqlalchemy as sa


def upgrade(op) -> None:
    with op.batch_alter_table("device_day_load") as table:
        table.add_column(sa.Column("feedback", sa.Integer, nullable=False, server_default="0"))
        table.add_column(sa.Column("usage", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "feedback",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("answer", sa.String(32), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_index("ix_feedback_time", "feedback", ["time"])
    op.create_table(
        "app_usage",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("start", sa.Float, primary_key=True),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("focus_s", sa.Float, nullable=False),
    )
    op.create_index("ix_app_usage_start", "app_usage", ["start"])
