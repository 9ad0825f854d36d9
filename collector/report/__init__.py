"""The weekly impact report for CIOs.

``build.build_report`` computes one plain, JSON-ready dict for an ISO week
from the collector database (through the impact model's aggregates); every
output format is rendered from that dict alone, so all formats always show the
same numbers. ``render.render(report, fmt)`` returns the bytes of one format.

Top-level keys of the report dict (stable; see docs/report.md):
``schema, week, period, generated_at, company, currency, model_version,
model_parameters, min_group_size, totals, previous, trend, headline, by_type,
by_app, by_site, by_department, connectivity, heatmap, repeat_devices,
findings, method``.
"""

from __future__ import annotations


class ReportError(RuntimeError):
    """The report cannot be produced (bad week, missing tool, unreachable source)."""
