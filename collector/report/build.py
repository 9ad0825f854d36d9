"""Compute the weekly report dict from the collector database.

Every figure of lost and active time comes from the impact model's hourly
aggregates (``collector.aggregates``), the same tables /metrics reads, so the
report and Prometheus agree; costs and scores use the model's own formulas
(``collector.impact.cost`` and ``score``). The base tables give what the
aggregates do not keep: which devices reported, application versions and the
causes and durations of connectivity outages. Each query is grouped in SQL so
a week of a large fleet reaches Python as a few thousand rows.
"""

from __future__ import annotations

from datetime import datetime, timezone

from collector import impact
from collector.report.assemble import Model


def model_of(cfg: impact.ModelConfig) -> Model:
    """The report's view of the impact model: version, parameters, cost and score (0..100)."""

    def score(lost_s: float, active_s: float) -> float | None:
        value = impact.score(lost_s, active_s)
        return None if value is None else 100.0 * value

    return Model(version=cfg.version, parameters=cfg.parameters(), currency=cfg.currency,
                 cost=lambda lost_s, department: impact.cost(lost_s, department, cfg), score=score)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
