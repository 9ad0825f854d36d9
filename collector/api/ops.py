"""``GET /metrics`` (Prometheus text format) and ``GET /healthz`` (liveness and database reachability); no token."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from collector.api.read import read_connection
from collector.api.spec import answers
from collector.metrics import render
from collector.migrations import current_version
from contract import __version__

log = logging.getLogger("hinder.collector")

router = APIRouter()


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "the Prometheus text exposition format"}, **answers(503)})
async def metrics(request: Request) -> Response:
    try:
        body = await run_in_threadpool(render, request.app.state.registry)
    except sa.exc.DBAPIError as exc:
        log.warning("metrics: database error: %s", exc)
        raise HTTPException(503, "the database is unavailable") from None
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", summary="Liveness and database reachability",
            responses={503: {"description": "the database is unreachable",
                             "content": {"application/json": {"schema": {"type": "object"}}}}})
def healthz(request: Request) -> JSONResponse:
    try:
        with read_connection(request.app.state.engine) as conn:
            version = current_version(conn)
    except (HTTPException, sa.exc.SQLAlchemyError) as exc:
        log.warning("healthz: database unavailable: %s", exc)
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__, "schema_version": version})
