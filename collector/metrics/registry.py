"""The registry /metrics serves: the database families collected at scrape time, and per-process ingest counters."""

from __future__ import annotations

import time
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from sqlalchemy.engine import Engine

from collector.config import CollectorConfig
from collector.metrics.families import FAMILIES, ScrapeContext

BATCH_RESULTS = ("accepted", "invalid", "unauthorized", "too_large", "overloaded", "error")
RECORD_KINDS = ("event", "heartbeat")
RECORD_RESULTS = ("stored", "duplicate")


class DatabaseCollector:
    """A prometheus_client collector running every family in one read transaction at scrape time."""

    def __init__(self, engine: Engine, config: CollectorConfig):
        self.engine = engine
        self.config = config

    def collect(self) -> Iterable[Metric]:
        with self.engine.connect() as conn:
            ctx = ScrapeContext(conn, self.config, time.time())
            metrics = [m for family in FAMILIES for m in family(ctx)]
        return metrics


class IngestCounters:
    """Per-process ingest counters: hinder_ingest_batches_total and hinder_ingest_records_total."""

    def __init__(self, registry: CollectorRegistry):
        self.batches = Counter("hinder_ingest_batches", "Batches received by this collector process, by result.",
                               ["result"], registry=registry)
        self.records = Counter("hinder_ingest_records", "Records in accepted batches, by kind and result.",
                               ["kind", "result"], registry=registry)
        for result in BATCH_RESULTS:
            self.batches.labels(result)
        for kind in RECORD_KINDS:
            for result in RECORD_RESULTS:
                self.records.labels(kind, result)


def build_registry(engine: Engine, config: CollectorConfig) -> tuple[CollectorRegistry, IngestCounters]:
    """A registry with the database figures and fresh per-process ingest counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, config))
    return registry, IngestCounters(registry)
