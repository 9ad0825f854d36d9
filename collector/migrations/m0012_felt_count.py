"""The pulse's questions and answers counted per labels (felt vs measured, collector.aggregates.felt)."""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "felt_count",
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(64), primary_key=True),
        sa.Column("answer", sa.String(32), primary_key=True),
        sa.Column("questions", sa.BigInteger, nullable=False),
        sa.Column("model_lost_s", sa.Float, nullable=False),
        sa.Column("felt_s", sa.Float, nullable=False),
    )
