"""Device credentials over HTTP: ``POST /api/v1/enroll`` (fleet token), listing and revocation (admin token).

The work is :mod:`collector.devices`'; these routes only read the request and
turn its refusals into statuses: 409 (enrolled already), 403 (revoked), 404
(no such device to revoke), 400 (not a device id).
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from collector import devices
from collector.api.ingest import read_body
from collector.api.read import read_connection
from collector.api.spec import CREDENTIAL, ENROLL_BODY, answers
from collector.auth import Role, require
from collector.ingest import Rejected
from contract.records import DEVICE_ID_ERROR, device_id_valid, format_time

MAX_ENROLL_BODY = 1024
_ENROLLMENT = msgspec.json.Decoder(msgspec.defstruct("Enrollment", [("device_id", str)], forbid_unknown_fields=True))

enroll_router = APIRouter(dependencies=[Depends(require(Role.AGENT))])
admin_router = APIRouter(dependencies=[Depends(require(Role.ADMIN))], responses=answers(400, 401, 503))


@enroll_router.post("/api/v1/enroll", status_code=201, summary="Enroll a device: its credential, once (fleet token)",
                    responses={201: CREDENTIAL, **answers(400, 401, 403, 409, 413, 429, 503)},
                    openapi_extra={"requestBody": ENROLL_BODY})
async def enroll(request: Request) -> JSONResponse:
    state = request.app.state
    if state.rate_bound.take() is not None:
        raise HTTPException(429, "too many requests; retry later", headers={"Retry-After": "1"})
    try:
        body = await read_body(request, MAX_ENROLL_BODY)
    except Rejected as exc:
        raise HTTPException(exc.status, exc.detail) from None
    try:
        device_id = _ENROLLMENT.decode(body).device_id
    except (msgspec.DecodeError, RecursionError):  # RecursionError: arrays nested a thousand deep fit in 1,024 bytes
        raise HTTPException(400, 'body must be the JSON object {"device_id": "..."} and nothing else') from None
    _check_device_id(device_id)
    try:
        credential = await anyio.to_thread.run_sync(devices.enroll, state.engine, device_id)
    except devices.DeviceRefused as exc:
        raise HTTPException(exc.status, exc.detail) from None
    return JSONResponse({"device_id": device_id, "credential": credential}, status_code=201,
                        headers={"Cache-Control": "no-store"})


@admin_router.get("/api/v1/devices/credentials", summary="Devices with their credential state (admin)")
def list_credentials(request: Request) -> dict[str, Any]:
    with read_connection(request.app.state.engine) as conn:
        listed = [_listing_json(d) for d in devices.listing(conn)]
    return {"count": len(listed), "devices": listed}


@admin_router.post("/api/v1/devices/{device_id}/revoke", summary="Revoke a device: its batches are refused (admin)",
                   responses=answers(404))
async def revoke(request: Request, device_id: str) -> dict[str, Any]:
    _check_device_id(device_id)
    try:
        return _listing_json(await run_in_threadpool(devices.revoke, request.app.state.engine, device_id))
    except KeyError:
        raise HTTPException(404, f"no device {device_id} is known to this collector") from None


def _check_device_id(device_id: Any) -> None:
    if not device_id_valid(device_id):
        raise HTTPException(400, f"device_id {DEVICE_ID_ERROR}")


def _listing_json(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: format_time(v) if k.endswith(("_at", "_seen")) and v is not None else v for k, v in entry.items()}
