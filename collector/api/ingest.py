"""``POST /api/v1/events`` and ``/api/v1/heartbeat`` (agent token): batches from agents.

Batches are read as raw bytes and validated by the wire contract, not parsed
by pydantic (it would do the same work twice, slowly); decoding, validation
and storing run in the thread pool, at most ``app.state.ingest_slots``
batches at a time, after the per-process :class:`RateBound`. Every batch is
counted in ``hinder_ingest_batches_total`` by result.
"""

from __future__ import annotations

import threading
import time

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from collector.api.spec import BATCH_BODY, CONTENT_ENCODING, INGEST_RESULT, answers
from collector.auth import Role, require
from collector.ingest import Rejected


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


def _count_unauthorized(request: Request) -> None:
    request.app.state.counters.batches.labels("unauthorized").inc()


router = APIRouter(dependencies=[Depends(require(Role.AGENT, on_refused=_count_unauthorized))])


async def ingest(request: Request) -> JSONResponse:
    """Store one batch and acknowledge what was committed, or refuse it with a specific status and detail."""
    state = request.app.state
    counters = state.counters
    try:
        wait = state.rate_bound.take()
        if wait is not None:
            raise Rejected(429, "overloaded", "too many batches; retry later", wait)
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise Rejected(415, "invalid", f"Content-Type must be application/json, got {ctype or 'nothing'!r}")
        body = await _read_body(request, state.config.collector.max_body_bytes)
        # decoding and validation are CPU work: off the event loop, like the database work
        result = await anyio.to_thread.run_sync(state.ingestor.store_body, body,
                                                request.headers.get("content-encoding"), limiter=state.ingest_slots)
    except Rejected as rejected:
        counters.batches.labels(rejected.result).inc()
        headers = {"Retry-After": str(max(1, round(rejected.retry_after_s)))} if rejected.retry_after_s else None
        return JSONResponse({"detail": rejected.detail}, status_code=rejected.status, headers=headers)
    except Exception:
        counters.batches.labels("error").inc()
        raise
    counters.batches.labels("accepted").inc()
    for kind, stored, dup in (("event", result.events_stored, result.events_duplicate),
                              ("heartbeat", result.heartbeats_stored, result.heartbeats_duplicate)):
        counters.records.labels(kind, "stored").inc(stored)
        counters.records.labels(kind, "duplicate").inc(dup)
    return JSONResponse(result.to_json())


_DESCRIBED = dict(methods=["POST"], responses={200: INGEST_RESULT, **answers(400, 401, 403, 413, 415, 422, 429, 503)},
                  openapi_extra={"requestBody": BATCH_BODY, "parameters": [CONTENT_ENCODING]})
router.add_api_route("/api/v1/events", ingest, summary="Ingest a batch of events and heartbeats", **_DESCRIBED)
router.add_api_route("/api/v1/heartbeat", ingest, summary="Ingest a batch (usually heartbeats only)", **_DESCRIBED)


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
