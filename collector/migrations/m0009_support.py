"""Service-desk tickets and their sources, and the devices' identity keys they are joined by (docs/support.md)."""

import sqlalchemy as sa


def upgrade(op) -> None:
    with op.batch_alter_table("device") as batch:
        for name in ("host_key", "asset_key", "account_key"):
            batch.add_column(sa.Column(name, sa.String(32), nullable=True))
            batch.create_index(f"ix_device_{name}", [name])
    op.create_table(
        "support_ticket",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("ticket_id", sa.String(128), primary_key=True),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("resolved_at", sa.Float),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(64), nullable=False),
        sa.Column("category", sa.String(128), nullable=False),
        sa.Column("work_stopping", sa.Boolean, nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("host_key", sa.String(32)),
        sa.Column("asset_key", sa.String(32)),
        sa.Column("account_key", sa.String(32)),
        sa.Column("device_id", sa.String(64)),
        sa.Column("stored_at", sa.Float, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_support_ticket_opened_at", "support_ticket", ["opened_at"])
    op.create_index("ix_support_ticket_device_id", "support_ticket", ["device_id"])
    op.create_table(
        "support_source",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("last_success", sa.Float),
        sa.Column("last_attempt", sa.Float),
        sa.Column("last_error", sa.String(200)),
        sa.Column("failures_total", sa.BigInteger, nullable=False),
        sa.Column("fetched_total", sa.BigInteger, nullable=False),
        sa.Column("skipped_total", sa.BigInteger, nullable=False),
    )
