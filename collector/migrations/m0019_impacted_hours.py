"""Impact model version 3: the active seconds of impacted device-hours beside every active-time figure.

``active_hourly.impacted_s`` is filled from the stored lost time with the default threshold (an hour with
60 s lost or more is impacted; ``[model] impacted_hour_lost_s``), and the daily and trailing-week sums by site
and department and the all-time total (``impact_total``, metric ``impacted``) from it. The per-application sums need the application catalogue, which a migration does not
know: hours computed before read as unimpacted for their applications until the refresher recomputes them.
"""

import sqlalchemy as sa

DEFAULT_THRESHOLD_S = 60.0  # impact.ModelConfig.impacted_hour_lost_s's default when this migration was written
_TABLES = ("active_hourly", "active_daily", "active_week", "app_active_daily", "app_active_week")


def upgrade(op) -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("impacted_s", sa.Float, nullable=False, server_default="0"))
    op.drop_index("ix_active_hourly_device_hour", "active_hourly")
    op.create_index("ix_active_hourly_device_hour", "active_hourly",
                    ["device_id", "hour", "site", "department", "active_s", "impacted_s"])
    op.execute(sa.text(
        "UPDATE active_hourly SET impacted_s = active_s WHERE (SELECT SUM(l.lost_s) FROM lost_hourly l "
        "WHERE l.device_id = active_hourly.device_id AND l.hour = active_hourly.hour) >= :threshold"
    ).bindparams(threshold=DEFAULT_THRESHOLD_S))
    op.execute(
        "UPDATE active_daily SET impacted_s = COALESCE((SELECT SUM(a.impacted_s) FROM active_hourly a "
        "WHERE a.hour >= active_daily.day AND a.hour < active_daily.day + 86400 "
        "AND a.site = active_daily.site AND a.department = active_daily.department), 0)")
    op.execute(
        "UPDATE active_week SET impacted_s = COALESCE((SELECT SUM(d.impacted_s) FROM active_daily d "
        "WHERE d.day >= (SELECT first_day FROM week_state WHERE id = 1) "
        "AND d.site = active_week.site AND d.department = active_week.department), 0)")
    op.execute(
        "INSERT INTO impact_total (metric, type, app, site, department, value, exported) "
        "SELECT 'impacted', '', '', site, department, SUM(impacted_s), SUM(impacted_s) FROM active_hourly "
        "GROUP BY site, department HAVING SUM(impacted_s) > 0")
