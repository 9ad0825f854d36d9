"""Device credentials: each enrolled device id bound to the SHA-256 of its own secret (docs/security.md)."""

import sqlalchemy as sa


def upgrade(op) -> None:
    op.create_table(
        "device_credential",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("secret_sha256", sa.String(64)),
        sa.Column("enrolled_at", sa.Float),
        sa.Column("revoked_at", sa.Float),
    )
