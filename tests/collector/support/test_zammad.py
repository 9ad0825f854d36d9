"""The Zammad connector against a local Zammad stand-in.

fixtures/zammad_tickets.json holds tickets as ``GET /api/v1/tickets/search``
answers with ``expand=true``: the expanded ticket payload of the Zammad API
documentation (docs.zammad.org, API > Introduction, "Response Payloads
(expand)"; the search answers a JSON list of them, app/controllers/tickets_controller.rb),
with priority, group, organization, customer (login), state and
create_article_type as names. The stand-in checks ``Authorization: Token
token=...``, answers the search with ``page``/``per_page`` paging (at most
200), ``sort_by``/``order_by`` and the ``updated_at:[time TO *]`` range.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone

import pytest

from collector.support.sources.base import parse_source_time, poll
from collector.support.sources.zammad import Zammad
from tests.collector.support import scenarios
from tests.collector.support.itsm import Reply, fixture, serve
from tests.collector.support.scenarios import make_connector, stored

engine, fast_retries = scenarios.engine, scenarios.fast_retries  # fixtures
pytestmark = pytest.mark.usefixtures("fast_retries")

NOW = parse_source_time("2026-11-24T12:00:00Z")
TOKEN = "zammad-token-Hx81mQ2"
_RANGE = re.compile(r"^updated_at:\[(\S+) TO \*\]$")


class FakeZammad(scenarios.Fake):
    secret = TOKEN
    bad_reason = "not a time: 'yesterday'"

    def __init__(self):
        super().__init__(fixture("zammad_tickets.json"))
        self.changes = 0

    @staticmethod
    def id_of(record) -> str:
        return str(record["id"])

    def change(self, ticket_id: str, when: float | None = None) -> None:
        self.changes += 1
        record = next(r for r in self.records if str(r.get("id")) == ticket_id)
        record["updated_at"] = _iso(NOW - 600 + self.changes if when is None else when)
        record["priority"] = "1 low" if record["priority"] != "1 low" else "3 high"

    def malformed(self) -> dict:
        record = copy.deepcopy(self.records[0])
        record.update(id=199, number="31199", created_at="yesterday")
        return record

    def handler(self, req):
        if req.headers.get("authorization") != f"Token token={TOKEN}":
            return Reply(401, {"error": "Authentication required"})
        if req.path != "/api/v1/tickets/search":
            return Reply(404, {"error": "No route matches"})
        q = {k: v[0] for k, v in req.query.items()}
        match = _RANGE.match(q.get("query", ""))
        assert match and q.get("expand") == "true", q
        assert q.get("sort_by") == "updated_at" and q.get("order_by") == "asc", q
        since = parse_source_time(match.group(1))
        page, per_page = int(q.get("page", 1)), min(int(q.get("per_page", 50)), 200)
        hits = sorted((r for r in self.records if parse_source_time(r["updated_at"]) >= since),
                      key=lambda r: (r["updated_at"], r["id"]))
        self.page_served()
        return Reply(200, hits[(page - 1) * per_page:page * per_page])


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def fake():
    return FakeZammad()


@pytest.fixture
def make(monkeypatch):
    return lambda url, secret, **kw: make_connector(Zammad, url, secret, monkeypatch, **kw)


def test_pages_and_fields(fake, make, db_engine):
    scenarios.check_pages(fake, make, db_engine, NOW)
    rows = stored(db_engine, "zammad-test")
    assert {k: rows[k]["channel"] for k in rows} == {"101": "phone", "102": "email", "103": "portal", "104": "chat",
                                                      "105": "other"}
    assert rows["101"]["resolved_at"] == parse_source_time("2026-11-20T09:15:40.338Z")
    assert rows["102"]["resolved_at"] is None and rows["102"]["priority"] == "3 high"
    assert rows["102"]["category"] == "Service Desk" and rows["102"]["department"] == "Example Corp Sales"
    assert rows["104"]["department"] == ""


def test_the_cursor_re_reads_an_overlap_and_pages_through_one_time(fake, make, engine):
    """102 and 103 share an update time: a page of two that ends there does not loop or lose either."""
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        poll(engine, connector, NOW)
        queries = [r.query["query"][0] for r in server.requests]
    assert queries[0] == "updated_at:[2026-10-20T12:00:00.000Z TO *]"  # since_days = 35
    assert "updated_at:[2026-11-21T07:30:00.000Z TO *]" in queries
    second = poll(engine, connector, NOW)
    assert second.stored.inserted == 0


def test_basic_auth_when_a_user_is_set(fake, make, engine):
    with serve(fake.handler) as server:
        result = poll(engine, make(server.url, fake.secret, user="agent@example.com"), NOW)
        assert server.requests[0].headers["authorization"].startswith("Basic ")
    assert result.error and "refused the credentials" in result.error  # the stand-in takes tokens only


def test_not_a_list(make, engine):
    with serve(lambda req: Reply(200, {"tickets": [1], "tickets_count": 1, "assets": {}})) as server:
        result = poll(engine, make(server.url, TOKEN), NOW)
    assert result.error == "zammad-test: unexpected answer to the ticket search (not a JSON list)"


def test_config():
    scenarios.check_config(Zammad, url="https://helpdesk.example.org")


class TestCommon(scenarios.Common):
    now = NOW
