"""Prometheus metrics of the collector (the contract is docs/metrics in the project notes).

Two kinds:
- figures from the shared database, computed at scrape time: one function
  per family in :data:`FAMILIES` (:mod:`.families`), yielding rows that
  :func:`render` (:mod:`.exposition`) writes straight to text;
- per-process ingest counters (:class:`IngestCounters`).

:func:`build_registry` (:mod:`.registry`) puts both in the registry /metrics serves.
"""

from collector.metrics.exposition import RowsMetric, counter, gauge, render
from collector.metrics.families import FAMILIES, INFO_LABELS, Family, ScrapeContext
from collector.metrics.registry import DatabaseCollector, IngestCounters, build_registry

__all__ = ["FAMILIES", "INFO_LABELS", "DatabaseCollector", "Family", "IngestCounters", "RowsMetric", "ScrapeContext",
           "build_registry", "counter", "gauge", "render"]
