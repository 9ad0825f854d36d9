"""``create_app``: the per-app state routers read from ``app.state``, background jobs, the error handlers, the
security headers, the routers and the API's description."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.aggregates import changes, felt, marks, model_config
from collector.aggregates.refresh import REFRESH_EVERY_S, refresh
from collector.api import devices, ingest, ops, read, support
from collector.api.headers import SecurityHeaders
from collector.api.spec import serve_description
from collector.auth import TokenAuth
from collector.config import CollectorConfig
from collector.db import is_sqlite, make_engine
from collector.ingest import Ingestor
from collector.jobs import start_periodic
from collector.metrics import build_registry
from collector.report.api import router as report_router
from collector.retention import PURGE_EVERY_S, purge_expired
from collector.support import store as support_store
from collector.support.polling import start_polling
from contract import __version__

log = logging.getLogger("hinder.collector")


def create_app(config: CollectorConfig, engine: Engine | None = None, background_jobs: bool = True) -> FastAPI:
    """Build the collector app for a migrated database (``engine`` defaults to ``config.collector.db``)."""
    settings = config.collector
    engine = engine or make_engine(settings.db, settings.db_busy_timeout_s)
    registry, counters = build_registry(engine, config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # background_jobs=False (in-process tests): no threads; tests call refresh() themselves. Each support
        # source is polled by its own job (collector.support.polling.start_polling).
        stops = [
            start_periodic("retention", PURGE_EVERY_S, lambda: purge_expired(engine, settings.retention_days), at_start=True),
            start_periodic("impact refresh", REFRESH_EVERY_S, lambda: refresh(engine, config)),
            start_periodic("change scoring", changes.settings_of(config).score_every_s,
                           lambda: changes.score(engine, config, time.time())),
            *start_polling(engine, config.section("support"), model_config(config)),
        ] if background_jobs and settings.background_jobs else []
        yield
        for stop in stops:
            stop.set()

    # the description is served by serve_description, only if [collector] api_docs is on
    app = FastAPI(title="hinder collector", version=__version__, lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.add_middleware(SecurityHeaders)
    state = app.state
    state.config, state.engine, state.registry, state.counters = config, engine, registry, counters
    state.auth = TokenAuth(settings.agent_tokens, settings.admin_token, settings.support_tokens)
    state.identity_secret = config.section("support").identity_secret()  # ConfigError: `serve` checked it
    state.ingestor = Ingestor(engine, config, hooks=[marks.on_ingest, felt.on_ingest, support_store.on_ingest])
    state.rate_bound = ingest.RateBound(settings.max_batches_per_s)
    state.device_rate_bounds = ingest.DeviceRateBounds(settings.max_batches_per_device_per_s)
    # Batches beyond the slots wait their turn on the event loop, which costs nothing. On SQLite one batch at a
    # time: a second one only decodes while the first holds the write lock, and each of the first's SQLite calls
    # then waits for the GIL (two threads store fewer events per second than one; docs/collector.md). PostgreSQL
    # keeps two: its work happens in the server's processes.
    state.ingest_slots = anyio.CapacityLimiter(1 if is_sqlite(engine) else 2)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); nothing was stored, see the "
                                       "collector log"}, status_code=500)

    routers = (ingest.router, devices.enroll_router, devices.admin_router, read.router, ops.router, report_router,
               support.router)
    methods_of: dict[str, set[str]] = {}  # the API's paths are fixed strings
    for route in (route for router in routers for route in router.routes):
        methods_of.setdefault(route.path, set()).update(route.methods)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # a 405 names every method of the path (GET and POST on /api/v1/events), not only the first route's
        if exc.status_code == 405 and request.url.path in methods_of:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods_of[request.url.path]))}
        return await http_exception_handler(request, exc)

    for router in routers:
        app.include_router(router)
    serve_description(app, settings)
    return app
