"""The collector's HTTP API (FastAPI): ingest, read-back, devices, /metrics, /healthz.

Batches are read as raw bytes and validated by the wire contract, not parsed
by pydantic (it would do the same work twice, slowly). Blocking database work
runs in the thread pool. Every refusal is a specific JSON error
``{"detail": ...}``; see docs/collector.md for the full list.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from typing import Any

import anyio
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.engine import Engine

from collector.aggregates import marks
from collector.aggregates.refresh import REFRESH_EVERY_S, refresh
from collector.auth import Role, TokenAuth, Unauthorized
from collector.config import CollectorConfig
from collector.db import is_retryable, is_sqlite, make_engine
from collector.ingest import Ingestor, Rejected
from collector.jobs import start_periodic
from collector.metrics import build_registry, render
from collector.migrations import current_version
from collector.models import device_table, event_table
from collector.report.api import router as report_router
from collector.retention import PURGE_EVERY_S, purge_expired
from contract import __version__
from contract.events import EVENT_TYPES
from contract.records import format_time, parse_time

log = logging.getLogger("hinder.collector")


class RateBound:
    """A per-process token bucket over ingest requests (0 per second: unbounded)."""

    def __init__(self, per_s: float):
        self.per_s = per_s
        self.burst = max(1.0, per_s)
        self._tokens = self.burst
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """Take one token; return None if granted, else the seconds until one is available."""
        if self.per_s <= 0:
            return None
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_s)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / self.per_s


def create_app(config: CollectorConfig, engine: Engine | None = None, background_jobs: bool = True) -> FastAPI:
    """Build the collector app for a migrated database (``engine`` defaults to ``config.collector.db``)."""
    settings = config.collector
    engine = engine or make_engine(settings.db, settings.db_busy_timeout_s)
    auth = TokenAuth(settings.agent_tokens, settings.admin_token)
    ingestor = Ingestor(engine, config, hooks=[marks.on_ingest])
    registry, counters = build_registry(engine, config)
    rate = RateBound(settings.max_batches_per_s)
    # Batches beyond the slots wait their turn on the event loop, which costs nothing. On SQLite one batch at a
    # time: a second one only decodes while the first holds the write lock, and each of the first's SQLite calls
    # then waits for the GIL (in-process, two threads stored 12% fewer events per second than one, median of 5).
    # PostgreSQL keeps two, as before (not measured again): its work happens in the server's processes.
    ingest_slots = anyio.CapacityLimiter(1 if is_sqlite(engine) else 2)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # background_jobs=False (in-process tests): no threads; tests call refresh() themselves
        stops = [
            start_periodic("retention", PURGE_EVERY_S, lambda: purge_expired(engine, settings.retention_days), at_start=True),
            start_periodic("impact refresh", REFRESH_EVERY_S, lambda: refresh(engine, config)),
        ] if background_jobs and settings.background_jobs else []
        yield
        for stop in stops:
            stop.set()

    app = FastAPI(title="hinder collector", version=__version__, lifespan=lifespan)
    app.state.config, app.state.engine, app.state.counters, app.state.ingestor = config, engine, counters, ingestor

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); nothing was stored, see the "
                                       "collector log"}, status_code=500)

    def _refuse(rejected: Rejected) -> JSONResponse:
        counters.batches.labels(rejected.result).inc()
        headers = {"Retry-After": str(max(1, round(rejected.retry_after_s)))} if rejected.retry_after_s else None
        return JSONResponse({"detail": rejected.detail}, status_code=rejected.status, headers=headers)

    def _authorize(request: Request, role: Role) -> None:
        try:
            auth.check(request.headers.get("authorization"), role)
        except Unauthorized as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="hinder"'}) from None

    async def ingest(request: Request) -> JSONResponse:
        try:
            _authorize(request, Role.AGENT)
        except HTTPException:
            counters.batches.labels("unauthorized").inc()
            raise
        try:
            wait = rate.take()
            if wait is not None:
                raise Rejected(429, "overloaded", "too many batches; retry later", wait)
            ctype = request.headers.get("content-type", "")
            if ctype.split(";")[0].strip().lower() != "application/json":
                raise Rejected(415, "invalid", f"Content-Type must be application/json, got {ctype or 'nothing'!r}")
            body = await _read_body(request, settings.max_body_bytes)
            # decoding and validation are CPU work: off the event loop, like the database work
            result = await anyio.to_thread.run_sync(ingestor.store_body, body, request.headers.get("content-encoding"),
                                                    limiter=ingest_slots)
        except Rejected as rejected:
            return _refuse(rejected)
        except Exception:
            counters.batches.labels("error").inc()
            raise
        counters.batches.labels("accepted").inc()
        for kind, stored, dup in (("event", result.events_stored, result.events_duplicate),
                                  ("heartbeat", result.heartbeats_stored, result.heartbeats_duplicate)):
            counters.records.labels(kind, "stored").inc(stored)
            counters.records.labels(kind, "duplicate").inc(dup)
        return JSONResponse(result.to_json())

    app.add_api_route("/api/v1/events", ingest, methods=["POST"], summary="Ingest a batch of events and heartbeats")
    app.add_api_route("/api/v1/heartbeat", ingest, methods=["POST"], summary="Ingest a batch (usually heartbeats only)")

    @app.get("/api/v1/events", summary="Read events (admin)")
    def read_events(request: Request,
                    type: list[str] = Query(default=[], description="event type; repeat for several"),
                    device_id: str | None = None,
                    since: str | None = Query(None, description="RFC 3339; events starting at or after"),
                    until: str | None = Query(None, description="RFC 3339; events starting before"),
                    limit: int = Query(1000, ge=1)) -> dict[str, Any]:
        _authorize(request, Role.ADMIN)
        if limit > settings.max_query_limit:
            raise HTTPException(400, f"limit must be at most {settings.max_query_limit}")
        e = event_table.c
        query = sa.select(event_table).order_by(e.start, e.id).limit(limit)
        unknown = [t for t in type if t not in EVENT_TYPES]
        if unknown:
            raise HTTPException(400, f"unknown event type {unknown[0]!r}; expected one of {', '.join(EVENT_TYPES)}")
        if type:
            query = query.where(e.type.in_(type))
        if device_id:
            query = query.where(e.device_id == device_id)
        for name, value, cmp in (("since", since, e.start.__ge__), ("until", until, e.start.__lt__)):
            if value is not None:
                try:
                    query = query.where(cmp(parse_time(value)))
                except ValueError as exc:
                    raise HTTPException(400, f"{name}: {exc}") from None
        with _read(engine) as conn:
            rows = conn.execute(query).mappings().all()
        events = [_event_json(r) for r in rows]
        return {"count": len(events), "events": events}

    @app.get("/api/v1/devices", summary="Read devices with their state (admin)")
    def read_devices(request: Request, state: str | None = Query(None, pattern="^(reporting|silent)$")) -> dict[str, Any]:
        _authorize(request, Role.ADMIN)
        now = time.time()
        with _read(engine) as conn:
            rows = conn.execute(sa.select(device_table).order_by(device_table.c.id)).mappings().all()
        devices = [_device_json(r, now, settings.silent_after_s) for r in rows]
        if state:
            devices = [d for d in devices if d["state"] == state]
        return {"count": len(devices), "devices": devices}

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        try:
            body = await run_in_threadpool(render, registry)
        except sa.exc.DBAPIError as exc:
            log.warning("metrics: database error: %s", exc)
            raise HTTPException(503, "the database is unavailable") from None
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        try:
            with _read(engine) as conn:
                version = current_version(conn)
        except (HTTPException, sa.exc.SQLAlchemyError) as exc:
            log.warning("healthz: database unavailable: %s", exc)
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__, "schema_version": version})

    app.include_router(report_router)
    return app


class _read:
    """A read connection; a busy or unreachable database becomes a 503."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __enter__(self):
        try:
            self.conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise HTTPException(503, f"the database is unavailable: {exc.orig}") from None
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        self.conn.close()
        if isinstance(exc, sa.exc.DBAPIError) and is_retryable(exc):
            raise HTTPException(503, "the database is busy or unavailable; retry later") from None
        return False


async def _read_body(request: Request, max_bytes: int) -> bytes:
    """Read the body, refusing it (413) as soon as it is known to exceed ``max_bytes``."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise Rejected(400, "invalid", "Content-Length is not a number")
        if int(length) > max_bytes:
            raise Rejected(413, "too_large", f"body of {length} bytes is larger than the limit of {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Rejected(413, "too_large", f"body is larger than the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _event_json(row) -> dict[str, Any]:
    out = dict(row)
    for key in ("start", "end", "received_at"):
        out[key] = format_time(out[key])
    return out


def _device_json(row, now: float, silent_after_s: float) -> dict[str, Any]:
    out = dict(row)
    last = out["last_seen"]
    out["state"] = "reporting" if last is not None and last >= now - silent_after_s else "silent"
    for key in ("first_seen", "last_seen", "last_heartbeat"):
        if out[key] is not None:
            out[key] = format_time(out[key])
    return out

