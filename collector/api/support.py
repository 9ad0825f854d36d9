"""``POST /api/v1/support/tickets`` (support token): a service desk pushes tickets in the generic column set.

The body is a JSON array of ticket objects, or JSON lines (one object a
line), optionally gzip-compressed; its size is bounded like a batch's. Records
are read by :mod:`collector.support.generic` and stored by
:func:`collector.support.store.store_tickets` in one transaction, so a ticket
sent again is updated, never doubled. The answer counts what was inserted,
updated, unchanged and skipped, and names the first skipped records with their
reasons; a body of which no record could be read is a 422.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from collector.aggregates import model_config
from collector.api.ingest import read_body
from collector.api.spec import CONTENT_ENCODING, TICKETS_BODY, TICKETS_RESULT, answers
from collector.auth import Role, require
from collector.db import is_retryable, write_transaction
from collector.ingest import Rejected, inflate
from collector.support.config import SOURCE_NAME
from collector.support.generic import FormatError, TooManyRecords, read_tickets
from collector.support.store import store_tickets

# tickets per request: storing one takes about 1.4 ms on SQLite (docs/support.md), and the request holds the
# database's write lock (and this process's ingest slot) meanwhile
MAX_RECORDS = 1_000
WEBHOOK_SOURCE = "webhook"
# Content types of the body: a JSON array (or JSON lines sent as application/json), or JSON lines.
_FORMATS = {"application/json": None, "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
            "application/x-jsonlines": "jsonl"}

router = APIRouter(dependencies=[Depends(require(Role.SUPPORT))])


@router.post("/api/v1/support/tickets", summary="Send service-desk tickets (support token)",
             responses={200: TICKETS_RESULT, **answers(400, 401, 413, 415, 422, 429, 503)},
             openapi_extra={"requestBody": TICKETS_BODY, "parameters": [CONTENT_ENCODING]})
async def receive_tickets(request: Request, source: str = Query(
        WEBHOOK_SOURCE, description="the name stored with these tickets, one per sending service desk (lowercase "
                                    "letters, digits, '-', '_'; at most 32): a ticket sent again under the same name "
                                    "and id is updated, not doubled")) -> JSONResponse:
    state = request.app.state
    if not re.match(SOURCE_NAME, source):
        raise HTTPException(400, "source must be lowercase letters, digits, '-' or '_' (at most 32)")
    wait = state.rate_bound.take()
    if wait is not None:
        raise HTTPException(429, "too many requests; retry later", headers={"Retry-After": str(max(1, round(wait)))})
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in _FORMATS:
        raise HTTPException(415, f"Content-Type must be one of {', '.join(_FORMATS)}, got {ctype or 'nothing'!r}")
    limit = state.config.collector.max_body_bytes
    try:
        raw = await read_body(request, limit)
    except Rejected as exc:
        raise HTTPException(exc.status, exc.detail) from None
    support = state.config.section("support")

    def store() -> dict[str, Any]:  # in a worker thread: a gzip body is inflated there, not on the event loop
        try:
            body = inflate(raw, request.headers.get("content-encoding"), limit)
        except Rejected as exc:
            raise HTTPException(exc.status, exc.detail) from None
        if not body.strip():
            raise HTTPException(400, "the body is empty: send a JSON array of tickets, or one ticket object a line")
        fmt = _FORMATS[ctype] or ("json" if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[" else "jsonl")
        read = read_tickets(body, fmt, source, support, state.identity_secret, max_records=MAX_RECORDS)
        if read.skipped and not read.tickets:
            raise HTTPException(422, {"message": f"none of the {read.skipped_total} records could be read; "
                                                 "nothing was stored", "errors": _problems(read)})
        with write_transaction(state.engine) as conn:
            stored = store_tickets(conn, read.tickets, model=model_config(state.config))
        stored.skipped.update(read.skipped)
        return {"inserted": stored.inserted, "updated": stored.updated, "unchanged": stored.unchanged,
                "skipped": stored.skipped_total, "problems": _problems(read)}

    try:
        answer = await anyio.to_thread.run_sync(store, limiter=state.ingest_slots)
    except TooManyRecords as exc:
        raise HTTPException(413, f"{exc}; nothing was stored") from None
    except FormatError as exc:
        raise HTTPException(400, f"{exc}; nothing was stored") from None
    except sa.exc.IntegrityError:  # the same new ticket stored by another request at the same moment
        raise HTTPException(503, "the same tickets are being stored by another request; retry later",
                            headers={"Retry-After": "2"}) from None
    except sa.exc.DBAPIError as exc:
        if not is_retryable(exc):
            raise
        raise HTTPException(503, "the database is busy or unreachable; retry later",
                            headers={"Retry-After": "2"}) from None
    return JSONResponse(answer)


def _problems(read) -> list[dict[str, str]]:
    return [{"record": where, "reason": reason} for where, reason in read.problems]
