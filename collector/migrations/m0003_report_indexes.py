"""Covering indexes for the weekly report's per-device scans of the hourly aggregates.

Device first, then type and hour: a scan of one week seeks to each device's
(and type's) hours and reads them in group order, so grouping by device and
type needs no sort however many weeks the tables hold (docs/report.md).
"""


def upgrade(op) -> None:
    op.create_index("ix_lost_hourly_device_type_hour", "lost_hourly",
                    ["device_id", "type", "hour", "app", "site", "department", "lost_s", "disruptions"])
    op.create_index("ix_active_hourly_device_hour", "active_hourly",
                    ["device_id", "hour", "site", "department", "active_s"])
