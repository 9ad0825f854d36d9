"""``GET /api/v1/events`` and ``GET /api/v1/devices`` (admin token): stored events and devices read back."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.engine import Connection, Engine

from collector.api.spec import answers
from collector.auth import Role, require
from collector.db import is_retryable
from collector.models import device_table, event_table
from contract.events import EVENT_TYPES
from contract.records import DEVICE_ID_ERROR, device_id_valid, format_time, parse_time

router = APIRouter(dependencies=[Depends(require(Role.ADMIN))], responses=answers(400, 401, 503))


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read connection; a busy or unreachable database becomes a 503."""
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        raise HTTPException(503, f"the database is unavailable: {exc.orig}") from None
    try:
        yield conn
    except sa.exc.DBAPIError as exc:
        if is_retryable(exc):
            raise HTTPException(503, "the database is busy or unavailable; retry later") from None
        raise
    finally:
        conn.close()


@router.get("/api/v1/events", summary="Read events (admin)")
def read_events(request: Request,
                type: list[str] = Query(default=[], description="event type; repeat for several",
                                        json_schema_extra={"items": {"type": "string", "enum": list(EVENT_TYPES)}}),
                device_id: str | None = None,
                since: str | None = Query(None, description="RFC 3339; events starting at or after"),
                until: str | None = Query(None, description="RFC 3339; events starting before"),
                limit: int = Query(1000, ge=1)) -> dict[str, Any]:
    max_limit = request.app.state.config.collector.max_query_limit
    if limit > max_limit:
        raise HTTPException(400, f"limit must be at most {max_limit}")
    e = event_table.c
    query = sa.select(event_table).order_by(e.start, e.id).limit(limit)
    unknown = [t for t in type if t not in EVENT_TYPES]
    if unknown:
        raise HTTPException(400, f"unknown event type {unknown[0]!r}; expected one of {', '.join(EVENT_TYPES)}")
    if type:
        query = query.where(e.type.in_(type))
    if device_id:
        if not device_id_valid(device_id):  # e.g. a NUL, which PostgreSQL cannot even compare
            raise HTTPException(400, f"device_id: {DEVICE_ID_ERROR}")
        query = query.where(e.device_id == device_id)
    for name, value, cmp in (("since", since, e.start.__ge__), ("until", until, e.start.__lt__)):
        if value is not None:
            try:
                query = query.where(cmp(parse_time(value)))
            except ValueError as exc:
                raise HTTPException(400, f"{name}: {exc}") from None
    with read_connection(request.app.state.engine) as conn:
        rows = conn.execute(query).mappings().all()
    events = [_event_json(r) for r in rows]
    return {"count": len(events), "events": events}


@router.get("/api/v1/devices", summary="Read devices with their state (admin)")
def read_devices(request: Request, state: str | None = Query(None, pattern="^(reporting|silent)$")) -> dict[str, Any]:
    now = time.time()
    with read_connection(request.app.state.engine) as conn:
        rows = conn.execute(sa.select(device_table).order_by(device_table.c.id)).mappings().all()
    devices = [_device_json(r, now, request.app.state.config.collector.silent_after_s) for r in rows]
    if state:
        devices = [d for d in devices if d["state"] == state]
    return {"count": len(devices), "devices": devices}


def _time(ts: float | None) -> str | None:
    """A stored time as RFC 3339; None if there is none, or if it has no such form (outside the years 1-9999).

    Whatever the tables hold (a year-4052 time stored before the collector's window was enforced, an infinity),
    a read answers; the contract keeps new records within the window.
    """
    try:
        return None if ts is None else format_time(ts)
    except (ValueError, OverflowError, OSError):
        return None


def _event_json(row) -> dict[str, Any]:
    out = dict(row)
    for key in ("start", "end", "received_at"):
        out[key] = _time(out[key])
    return out


def _device_json(row, now: float, silent_after_s: float) -> dict[str, Any]:
    out = dict(row)
    last = out["last_seen"]
    out["state"] = "reporting" if last is not None and last >= now - silent_after_s else "silent"
    for key in ("first_seen", "last_seen", "last_heartbeat"):
        out[key] = _time(out[key])
    return out
