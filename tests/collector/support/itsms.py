"""The TOPdesk and ServiceNow list APIs as the connector tests' local server answers them (tests/collector/support/
itsm.py serves these handlers): their real filters, order, paging, field selection and authentication, over
records kept as the APIs return them (the fixtures); and what the tests read back from the database."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import urlencode

import sqlalchemy as sa

from collector.models import support_source_table, support_ticket_table
from tests.collector.support.itsm import Reply, Request

TOPDESK_USER = "hinder-reader"
TOPDESK_PASSWORD = "td-app-pw-0001-secret"
SERVICENOW_USER = "hinder.integration"
SERVICENOW_PASSWORD = "sn-pw-0001-secret"
SERVICENOW_TOKEN = "sn-oauth-token-0001-secret"


def tickets(engine) -> dict[str, dict]:
    """The stored tickets by id."""
    with engine.connect() as conn:
        return {r["ticket_id"]: dict(r) for r in conn.execute(sa.select(support_ticket_table)).mappings()}


def health(engine) -> dict:
    """The one source's support_source row."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(support_source_table)).mappings().one())


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def shift_times(records: list, delta: timedelta, names: tuple[str, ...]) -> None:
    """Move the named time fields of records (TOPdesk's or ServiceNow's spelling kept) by ``delta``, in place."""
    for record in records:
        for name in names:
            value = record.get(name) if isinstance(record, dict) else None
            if not value:
                continue
            moved = _time(value) + delta
            if "T" in value:
                record[name] = moved.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}+0000"
            else:
                record[name] = moved.strftime("%Y-%m-%d %H:%M:%S")


def topdesk(incidents: list, password: str = TOPDESK_PASSWORD) -> Callable[[Request], Reply]:
    """GET /tas/api/incidents: FIQL ``field=ge=time``, ``sort`` (fields with :asc), ``pageStart``/``pageSize``,
    ``fields``; 206 while more remain, 200 for the last page, 204 when none match; HTTP Basic."""

    def handle(req: Request) -> Reply:
        if req.path != "/tas/api/incidents":
            return Reply(404, [{"message": "Not found"}])
        if req.headers.get("authorization") != _basic(TOPDESK_USER, password):
            return Reply(401, [{"message": "Login failed"}])
        arg = {k: v[0] for k, v in req.query.items()}
        match = re.fullmatch(r"([A-Za-z.]+)=ge=(\S+)", arg.get("query", ""))
        size, start = int(arg.get("pageSize", 10)), int(arg.get("pageStart", 0))
        if match is None or not 1 <= size <= 10000:
            return Reply(400, [{"message": "Invalid query or page size"}])
        field, since = match.group(1), _time(match.group(2))
        # a record that is not an object (a broken answer) passes every filter and sorts last
        rows = [i for i in incidents if not isinstance(i, dict) or (i.get(field) and _time(i[field]) >= since)]
        for key in reversed(arg.get("sort", "").split(",")):
            name = key.split(":")[0]
            rows.sort(key=lambda i: (0, _time(i[name]) if name.endswith("Date") else str(i.get(name)))
                      if isinstance(i, dict) else (1, 0))
        page = rows[start:start + size]
        if not page:
            return Reply(204, b"")
        if "fields" in arg:
            keep = arg["fields"].split(",")
            page = [{k: v for k, v in i.items() if k in keep} if isinstance(i, dict) else i for i in page]
        return Reply(206 if start + size < len(rows) else 200, page)

    return handle


def servicenow(incidents: list, bearer: bool = False, password: str = SERVICENOW_PASSWORD,
               token: str = SERVICENOW_TOKEN) -> Callable[[Request], Reply]:
    """GET /api/now/table/incident: ``sysparm_query`` ``field>=time^ORDERBYa^ORDERBYb``, ``sysparm_limit``/
    ``sysparm_offset``, ``sysparm_fields`` (dot-walked names answered as flat keys); ``{"result": [...]}`` with
    the Link header (first, prev, next, last) and X-Total-Count; HTTP Basic, or a bearer token."""

    def handle(req: Request) -> Reply:
        if req.path != "/api/now/table/incident":
            return Reply(400, {"error": {"message": "Invalid table", "detail": None}, "status": "failure"})
        expected = f"Bearer {token}" if bearer else _basic(SERVICENOW_USER, password)
        if req.headers.get("authorization") != expected:
            return Reply(401, {"error": {"message": "User Not Authenticated",
                                         "detail": "Required to provide Auth information"}, "status": "failure"})
        arg = {k: v[0] for k, v in req.query.items()}
        parts = arg.get("sysparm_query", "").split("^")
        match = re.fullmatch(r"(\w+)>=(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", parts[0])
        if match is None:
            return Reply(400, {"error": {"message": "Invalid query", "detail": None}, "status": "failure"})
        field, since = match.group(1), _time(match.group(2))
        rows = [i for i in incidents if i.get(field) and _time(i[field]) >= since]
        for part in reversed(parts[1:]):
            name = part.removeprefix("ORDERBY")
            rows.sort(key=lambda i: str(i.get(name)))
        limit, offset = int(arg.get("sysparm_limit", 10000)), int(arg.get("sysparm_offset", 0))
        page = rows[offset:offset + limit]
        if "sysparm_fields" in arg:
            keep = arg["sysparm_fields"].split(",")
            page = [{k: v for k, v in i.items() if k in keep} for i in page]

        def link(at: int, rel: str) -> str:
            return f'<http://instance{req.path}?{urlencode({**arg, "sysparm_offset": at})}>;rel="{rel}"'

        links = [link(0, "first")]
        if offset > 0:
            links.append(link(max(0, offset - limit), "prev"))
        if offset + limit < len(rows):
            links.append(link(offset + limit, "next"))
        links.append(link(max(0, (len(rows) - 1) // limit * limit), "last"))
        return Reply(200, {"result": page}, {"Link": ",".join(links), "X-Total-Count": str(len(rows))})

    return handle
