"""The device's cohort (issue 15): OS build, hardware vendor and model, CPU class and memory on the device row.

Devices stored before read "unknown" (0 bytes) until their next heartbeat says more.
"""

import sqlalchemy as sa

_TEXTS = ("os_build", "hw_vendor", "hw_model", "cpu_class")


def upgrade(op) -> None:
    with op.batch_alter_table("device") as batch:
        for name in _TEXTS:
            batch.add_column(sa.Column(name, sa.String(64), nullable=False, server_default="unknown"))
        batch.add_column(sa.Column("memory_bytes", sa.BigInteger, nullable=False, server_default="0"))
