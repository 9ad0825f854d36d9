"""``GET /api/v1/reports/weekly?week=YYYY-Www&format=html|pdf|md|csv|json&model=3|2|1`` (admin token).

A router the collector app includes; it reads the app's engine and config
from ``app.state`` and checks the token with :func:`collector.auth.require`.
The report is built in the thread pool.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from collector.api.spec import answers
from collector.auth import Role, require
from collector.impact import MODEL_VERSION, MODEL_VERSIONS
from collector.report import ReportError
from collector.report.render import EXTENSIONS, FORMATS, MEDIA_TYPES, render
from collector.report.week import WEEK_PATTERN

router = APIRouter(dependencies=[Depends(require(Role.ADMIN))])
_REPORT = {200: {"description": "the report in the format asked for (csv: a zip of CSV files)",
                 "content": {MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "object"} if f == "json" else
                                                            {"type": "string", "format": "binary"}} for f in FORMATS}}}


@router.get("/api/v1/reports/weekly", summary="The weekly impact report (admin)",
            responses={**_REPORT, **answers(400, 401, 501, 503)})
async def weekly_report(request: Request,
                        week: Optional[str] = Query(None, description="ISO week YYYY-Www; default the last complete week",
                                                    json_schema_extra={"pattern": WEEK_PATTERN}),
                        format: str = Query("json", description="html, pdf, md, csv (zip) or json",
                                            json_schema_extra={"enum": list(FORMATS)}),
                        model: str = Query(MODEL_VERSION, description="impact model version to show the week under: "
                                           "3 (the score counts impacted hours), 2 (the score is 1 - lost / active) "
                                           "or 1 (as 2, without the service-desk cause)",
                                           json_schema_extra={"enum": list(MODEL_VERSIONS)})) -> Response:
    config = request.app.state.config
    if format not in FORMATS:
        raise HTTPException(400, f"format {format!r}: expected one of {', '.join(FORMATS)}")
    if model not in MODEL_VERSIONS:
        raise HTTPException(400, f"model {model!r}: expected one of {', '.join(MODEL_VERSIONS)}")
    from collector.report.build import build_report

    try:
        report = await run_in_threadpool(build_report, request.app.state.engine, config, week, model=model)
    except ReportError as exc:
        raise HTTPException(400, str(exc)) from None
    except sa.exc.DBAPIError as exc:
        raise HTTPException(503, f"the database is unavailable: {str(exc).splitlines()[0]}") from None
    try:
        body = await run_in_threadpool(render, report, format)
    except ReportError as exc:
        raise HTTPException(501 if format == "pdf" else 500, str(exc)) from None
    name = f"hinder-report-{report['week']}.{EXTENSIONS[format]}"
    disposition = "inline" if format in ("html", "json") else "attachment"
    return Response(body, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": f'{disposition}; filename="{name}"'})
