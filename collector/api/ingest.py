"""``POST /api/v1/events`` and ``/api/v1/heartbeat`` (device credential or fleet token): batches from agents.

Batches are read as raw bytes and validated by the wire contract, not parsed
by pydantic (it would do the same work twice, slowly); decoding, validation
and storing run in the thread pool, at most ``app.state.ingest_slots``
batches at a time, after the sending device's :class:`DeviceRateBounds` and
the per-process :class:`RateBound`. Every batch is counted in
``hinder_ingest_batches_total`` by result (a refused credential as
``unauthorized``, with 401 or 403).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from collector import devices
from collector.api.spec import BATCH_BODY, CONTENT_ENCODING, INGEST_RESULT, answers
from collector.auth import BearerToken, Role, Unauthorized, unauthorized
from collector.db import is_retryable
from collector.ingest import Rejected


class RateBound:
    """A token bucket over ingest requests (0 per second: unbounded); one per process, and one per device."""

    __slots__ = ("per_s", "burst", "_tokens", "_last", "_lock")

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


class DeviceRateBounds:
    """One :class:`RateBound` per device id; beyond ``max_devices`` the least recently seen device's is forgotten."""

    def __init__(self, per_s: float, max_devices: int = 50_000):
        self.per_s = per_s
        self.max_devices = max_devices
        self._bounds: OrderedDict[str, RateBound] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, device_id: str) -> float | None:
        """Take one of the device's tokens; return None if granted, else the seconds until one is available."""
        if self.per_s <= 0:
            return None
        with self._lock:
            bound = self._bounds.get(device_id)
            if bound is None:
                bound = self._bounds[device_id] = RateBound(self.per_s)
                if len(self._bounds) > self.max_devices:
                    self._bounds.popitem(last=False)
            else:
                self._bounds.move_to_end(device_id)
        return bound.take()


class _Sender(BearerToken):
    """The ingest routes' security (the ``agentToken`` scheme): a device credential or a fleet token."""

    async def __call__(self, request: Request) -> str | None:
        """Who sends a batch: the device id of a good device credential, or None for a fleet token.

        Anything else is refused, 401 (no, unknown or wrong credential) or 403 (a
        revoked device; the fleet token where ``require_enrollment`` is on), and
        counted as ``result="unauthorized"``.
        """
        state = request.app.state
        authorization = request.headers.get("authorization")
        try:
            token = state.auth.bearer(authorization, Role.AGENT)
            if devices.is_credential(token):
                return await anyio.to_thread.run_sync(devices.verify, state.engine, token)
            state.auth.check(authorization, Role.AGENT)
            if state.config.collector.require_enrollment:
                raise devices.DeviceRefused(403, "this collector requires enrollment: the fleet token is good only "
                                                 "for POST /api/v1/enroll, batches must carry the device credential")
            return None
        except Unauthorized as exc:
            refusal = unauthorized(str(exc))
        except devices.DeviceRefused as exc:
            refusal = unauthorized(exc.detail) if exc.status == 401 else HTTPException(exc.status, exc.detail)
        except sa.exc.DBAPIError as exc:
            if not is_retryable(exc):
                raise
            state.counters.batches.labels("overloaded").inc()
            raise HTTPException(503, "the database is busy or unreachable; retry later",
                                headers={"Retry-After": "2"}) from None
        state.counters.batches.labels("unauthorized").inc()
        raise refusal


sender = _Sender(Role.AGENT)
router = APIRouter()


async def ingest(request: Request, device_id: str | None = Depends(sender)) -> JSONResponse:
    """Store one batch and acknowledge what was committed, or refuse it with a specific status and detail."""
    state = request.app.state
    counters = state.counters
    try:
        # the device's own bound first: a device over it does not use up the tokens of the others
        wait = state.device_rate_bounds.take(device_id) if device_id is not None else None
        if wait is not None:
            raise Rejected(429, "overloaded", f"too many batches from device {device_id}; retry later", wait)
        wait = state.rate_bound.take()
        if wait is not None:
            raise Rejected(429, "overloaded", "too many batches; retry later", wait)
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise Rejected(415, "invalid", f"Content-Type must be application/json, got {ctype or 'nothing'!r}")
        body = await read_body(request, state.config.collector.max_body_bytes)
        # decoding and validation are CPU work: off the event loop, like the database work
        store = functools.partial(state.ingestor.store_body, device_id=device_id)
        result = await anyio.to_thread.run_sync(store, body, request.headers.get("content-encoding"),
                                                limiter=state.ingest_slots)
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


async def read_body(request: Request, max_bytes: int) -> bytes:
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
