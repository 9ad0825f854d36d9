"""The API's description: every answer a route gives, the batch body, and the pages that serve the document.

Routes list their answers with :func:`answers` (``responses=answers(400, 401, 503)``): each status with its
meaning and the JSON ``{"detail": ...}`` shape every refusal has. The security schemes come from
:func:`collector.auth.require`, the batch body's schema from the wire contract's own msgspec types
(:func:`collector.fastwire.batch_schema`, under the collector's configured limits). :func:`serve_description`
serves ``/openapi.json`` and ``/docs`` when ``[collector] api_docs`` is on (off by default, docs/security.md).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse

from collector.config import CollectorSettings
from collector.fastwire import batch_schema
from collector.report.render_html import csp_hash
from contract.records import DEVICE_ID_SCHEMA_PATTERN

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "title": "Error", "type": "object", "required": ["detail"],
    "properties": {"detail": {"description": "what is wrong, in words; a refused batch's check lists each problem",
                              "anyOf": [{"type": "string"},
                                        {"type": "object", "required": ["message"],
                                         "properties": {"message": {"type": "string"}, "errors": {"type": "array"}}}]}},
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
_MEANINGS: dict[int, tuple[str, dict]] = {
    400: ("a malformed request: an unknown or out-of-range query value, a body that is not JSON or not gzip", {}),
    401: ("no token, or not a token of the role this operation needs",
          {"WWW-Authenticate": {"description": 'Bearer realm="hinder"', "schema": {"type": "string"}}}),
    403: ("a valid token that may not act for this device: the device is revoked, or enrolled (its batches need its "
          "credential), or the credential is another device's", {}),
    404: ("no such device", {}),
    409: ("the device is enrolled already: it keeps its credential, the fleet token cannot take it over", {}),
    413: ("the body, compressed or decompressed, or its number of records is over the collector's limit", {}),
    415: ("Content-Type is not application/json, or Content-Encoding is neither gzip nor identity", {}),
    422: ("the batch breaks the wire contract, or no ticket of the body could be read; nothing of it was stored", {}),
    429: ("too many batches from this device or on this collector process; retry after Retry-After", _RETRY_AFTER),
    501: ("this collector cannot render the format (PDF needs Chromium)", {}),
    503: ("the database is busy or unreachable; retry later", _RETRY_AFTER),
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for the refusals it gives, each with its meaning and the JSON error shape."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        meaning, headers = _MEANINGS[status]
        out[status] = {"description": meaning, "content": {"application/json": {"schema": _ERROR_REF}},
                       **({"headers": headers} if headers else {})}
    return out


_STORED = {"type": "object", "required": ["stored", "duplicate"],
           "properties": {"stored": {"type": "integer", "minimum": 0}, "duplicate": {"type": "integer", "minimum": 0}}}
INGEST_RESULT = {
    "description": "the batch is committed: how many of its records are new, how many were stored before",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["accepted", "duplicates", "events", "heartbeats"],
        "properties": {"accepted": {"type": "integer", "minimum": 0}, "duplicates": {"type": "integer", "minimum": 0},
                       "events": _STORED, "heartbeats": _STORED}}}},
}
BATCH_BODY = {
    "required": True,
    "description": "one batch of the wire contract (contract/records.py); it may be gzip-compressed "
                   "(Content-Encoding: gzip). Times are checked against the collector's clock as well.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
}
ENROLL_BODY = {
    "required": True,
    "description": "the device id the agent created at installation (the device_id of its batches)",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["device_id"], "additionalProperties": False,
        "properties": {"device_id": {"type": "string", "pattern": DEVICE_ID_SCHEMA_PATTERN}}}}},
}
CREDENTIAL = {
    "description": "the device's credential: keep it secret, send it as 'Authorization: Bearer <credential>'",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["device_id", "credential"],
        "properties": {"device_id": {"type": "string"}, "credential": {"type": "string", "pattern": "^hdc1\\."}}}}},
}
_TEXT = {"type": ["string", "null"], "maxLength": 1024}
_TIME = {"description": "ISO 8601 (2026-11-30T09:12:00Z; without an offset: UTC) or Unix seconds",
         "anyOf": [{"type": "string", "maxLength": 64}, {"type": "number"}, {"type": "null"}]}
_KEY = {"type": ["string", "null"], "pattern": "^[0-9a-fA-F]{32}$",
        "description": "the keyed hash (contract.identity) the sender computed with the fleet's identity key"}
_NAME = {"type": ["string", "null"], "maxLength": 1024,
         "description": "in clear: hashed on arrival with the fleet's identity key, never stored"}
TICKET_RECORD = {
    "title": "Ticket", "type": "object", "required": ["id", "opened_at"],
    "description": "a ticket in the generic column set (docs/support.md); other properties are ignored",
    "properties": {
        "id": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 128}, {"type": "integer"}]},
        "opened_at": _TIME, "updated_at": _TIME, "resolved_at": _TIME,
        "channel": {**_TEXT, "description": "phone, email, portal, chat, walk_in, remote, other, or a common "
                                            "synonym (e-mail, self-service, walk-in ...); else other"},
        "priority": _TEXT, "category": _TEXT, "site": _TEXT, "department": _TEXT,
        "work_stopping": {"type": ["boolean", "null"],
                          "description": "absent: from the [support] priorities and categories"},
        "host": _NAME, "asset": _NAME, "account": _NAME, "host_key": _KEY, "asset_key": _KEY, "account_key": _KEY,
    },
}
TICKETS_BODY = {
    "required": True,
    "description": "a JSON array of tickets, or JSON lines (one ticket object a line; Content-Type "
                   "application/x-ndjson, or application/json); it may be gzip-compressed (Content-Encoding: gzip)",
    # every array is read: an item that is not a Ticket is skipped and named in the answer, the others stored
    "content": {"application/json": {"schema": {"type": "array", "maxItems": 1_000, "items": {
        "anyOf": [{"$ref": "#/components/schemas/Ticket"}, {}]}}}},
}
_COUNT = {"type": "integer", "minimum": 0}
TICKETS_RESULT = {
    "description": "the readable tickets are committed: how many are new, changed and unchanged; the records "
                   "skipped, the first of them named with their reason",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["inserted", "updated", "unchanged", "skipped", "problems"],
        "properties": {"inserted": _COUNT, "updated": _COUNT, "unchanged": _COUNT, "skipped": _COUNT,
                       "problems": {"type": "array", "items": {
                           "type": "object", "required": ["record", "reason"],
                           "properties": {"record": {"type": "string"}, "reason": {"type": "string"}}}}}}}},
}
CONTENT_ENCODING = {"name": "Content-Encoding", "in": "header", "required": False,
                    "schema": {"type": "string", "enum": ["gzip", "identity"]},
                    "description": "gzip for a compressed body; absent or identity for plain JSON"}


def describe(app: FastAPI, settings: CollectorSettings) -> dict[str, Any]:
    """The OpenAPI document of ``app``, with the batch schema under ``settings``' limits."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _, batch_components = batch_schema(settings.limits)
    doc.setdefault("components", {}).setdefault("schemas", {}).update({**batch_components, "Error": ERROR_SCHEMA,
                                                                       "Ticket": TICKET_RECORD})
    return doc


def serve_description(app: FastAPI, settings: CollectorSettings) -> None:
    """Serve the document at ``/openapi.json`` and Swagger UI at ``/docs`` if ``settings.api_docs``.

    Swagger UI comes from the jsDelivr CDN, as FastAPI's page loads it: its page gets a CSP that allows that CDN,
    its own inline script (by hash) and requests to this collector, nothing else.
    """
    openapi = cache(lambda: describe(app, settings))
    app.openapi = openapi  # type: ignore[method-assign]
    if not settings.api_docs:
        return
    page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title}: API").body.decode()
    cdn = "https://cdn.jsdelivr.net"
    scripts = " ".join(map(csp_hash, re.findall(r"<script>(.*?)</script>", page, re.S)))
    docs_csp = (f"default-src 'none'; script-src {cdn} {scripts}; style-src {cdn} 'unsafe-inline'; "
                f"img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'; "
                "base-uri 'none'; form-action 'none'")

    async def openapi_json() -> JSONResponse:
        return JSONResponse(openapi())

    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": docs_csp})

    app.add_api_route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
