"""The GLPI connector against a local GLPI REST API (apirest.php) stand-in.

fixtures/glpi_tickets.json holds Ticket items as ``GET /Ticket`` answers with
``expand_dropdowns=true&get_hateoas=false`` (GLPI's apirest.md, "Get all
items"; the Ticket table's fields): times as ``2026-11-20 08:02:11`` without a
zone, ``priority`` 1-6, dropdowns (``requesttypes_id``, ``itilcategories_id``,
``locations_id``, ``entities_id``) as names, an empty one as ``&nbsp;``. The
stand-in follows apirest.md: ``initSession`` checks ``Authorization:
user_token ...`` and the ``App-Token`` (answering ``session_token``), every
other call wants a live ``Session-Token`` (else 401
``ERROR_SESSION_TOKEN_INVALID``), a ticket's requesters are its ``Ticket_User``
sub-items (fixtures/glpi_ticket_users.json: ``users_id``, ``type`` 1 for a
requester, ``alternative_email``) and a user's login is ``name`` in ``/User/:id``
(fixtures/glpi_users.json), lists are paged by ``range=a-b`` with
``Content-Range: a-b/total`` and 206 Partial Content (400
``ERROR_RANGE_EXCEED_TOTAL`` past the end), sorted by ``sort``/``order``;
``killSession`` ends the session.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone

import pytest

from collector.support.sources.base import parse_source_time, poll
from collector.support.sources.glpi import Glpi
from contract.identity import identity_key
from tests.collector.support import scenarios
from tests.collector.support.itsm import Reply, fixture, serve
from tests.collector.support.scenarios import make_connector, source_row, stored

engine, fast_retries = scenarios.engine, scenarios.fast_retries  # fixtures
pytestmark = pytest.mark.usefixtures("fast_retries")

NOW = parse_source_time("2026-11-24T12:00:00Z")
USER_TOKEN = "q56hqkniwot8wntb3z1qarka5atf365taaa2uyjrn"
APP_TOKEN = "f7g3csp8mgatg5ebc5elnazakw20i9fyev1qopya7"
IDENTITY = b"fleet-identity-key-0123456789"
_RANGE = re.compile(r"^(\d+)-(\d+)$")


class FakeGlpi(scenarios.Fake):
    secret = f"{USER_TOKEN} {APP_TOKEN}"
    bad_reason = "not a time: '0000-00-00 00:00:00'"

    def __init__(self):
        super().__init__(fixture("glpi_tickets.json"))
        self.sessions: set[str] = set()
        self.opened = self.killed = self.changes = self.lookups = 0

    @staticmethod
    def id_of(record) -> str:
        return str(record["id"])

    def change(self, ticket_id: str, when: float | None = None) -> None:
        self.changes += 1
        record = next(r for r in self.records if str(r["id"]) == ticket_id)
        when = NOW - 600 + self.changes if when is None else when
        record["date_mod"] = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        record["priority"] = 1 if record["priority"] != 1 else 6

    def malformed(self) -> dict:
        record = copy.deepcopy(self.records[0])
        record.update(id=299, date="0000-00-00 00:00:00")
        return record

    def handler(self, req):
        if req.headers.get("app-token") != APP_TOKEN:
            return Reply(400, ["ERROR_WRONG_APP_TOKEN_PARAMETER", "missing parameter app_token"])
        if req.path == "/apirest.php/initSession":
            if req.headers.get("authorization") != f"user_token {USER_TOKEN}":
                return Reply(401, ["ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid"])
            self.opened += 1
            token = f"sess{self.opened:04d}a3ca0bea62"
            self.sessions.add(token)
            return Reply(200, {"session_token": token})
        if req.headers.get("session-token") not in self.sessions:
            return Reply(401, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"])
        if req.path == "/apirest.php/killSession":
            self.sessions.discard(req.headers["session-token"])
            self.killed += 1
            return Reply(200, True)
        sub = re.match(r"^/apirest.php/Ticket/(\d+)/Ticket_User$", req.path)
        if sub:
            self.lookups += 1
            return Reply(200, fixture("glpi_ticket_users.json").get(sub.group(1), []))
        user = re.match(r"^/apirest.php/User/(\d+)$", req.path)
        if user:
            self.lookups += 1
            found = fixture("glpi_users.json").get(user.group(1))
            return Reply(200, found) if found else Reply(404, ["ERROR_ITEM_NOT_FOUND", "Item not found"])
        if req.path != "/apirest.php/Ticket":
            return Reply(400, ["ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", "resource not found"])
        q = {k: v[0] for k, v in req.query.items()}
        assert q["sort"] == "date_mod" and q["order"] == "DESC" and q["expand_dropdowns"] == "true", q
        first, last = map(int, _RANGE.match(q.get("range", "0-49")).groups())
        rows = sorted(self.records, key=lambda r: (r["date_mod"], r["id"]), reverse=True)
        if rows and first >= len(rows):
            return Reply(400, ["ERROR_RANGE_EXCEED_TOTAL", "Provided range exceed total count of data"])
        page = rows[first:last + 1]
        self.page_served()
        partial = first > 0 or last + 1 < len(rows)
        headers = {"Content-Range": f"{first}-{first + len(page) - 1}/{len(rows)}", "Accept-Range": "Ticket 1000"}
        return Reply(206 if partial else 200, page, headers)


@pytest.fixture
def fake():
    return FakeGlpi()


@pytest.fixture
def make(monkeypatch):
    return lambda url, secret, **kw: make_connector(Glpi, url + "/apirest.php", secret, monkeypatch, **kw)


def test_pages_and_fields(fake, make, db_engine):
    scenarios.check_pages(fake, make, db_engine, NOW)
    rows = stored(db_engine, "glpi-test")
    assert {k: r["channel"] for k, r in rows.items()} == {"201": "phone", "202": "email", "203": "walk_in",
                                                           "204": "portal", "205": "other"}
    assert {k: r["priority"] for k, r in rows.items()} == {"201": "high", "202": "medium", "203": "very high",
                                                           "204": "low", "205": "major"}
    assert rows["203"]["work_stopping"] and not rows["201"]["work_stopping"]
    assert rows["201"]["resolved_at"] == parse_source_time("2026-11-20T09:15:40Z")  # solved, before closed
    assert rows["204"]["resolved_at"] == parse_source_time("2026-11-22T15:01:27Z")  # closed without a solution
    assert rows["202"]["site"] == "" and rows["201"]["site"] == "Paris > Building A"
    assert rows["201"]["category"] == "Network > VPN" and rows["205"]["department"] == "Root entity > Finance"
    assert fake.killed == fake.opened == 2 and not fake.sessions  # every session closed
    assert all(r["account_key"] is None for r in rows.values()) and fake.lookups == 0  # not joined: not read


def test_requesters_when_tickets_are_joined(fake, make, engine):
    with serve(fake.handler) as server:
        poll(engine, make(server.url, fake.secret, identity=IDENTITY), NOW)
    keys = {k: r["account_key"] for k, r in stored(engine, "glpi-test").items()}
    assert keys == {"201": identity_key(IDENTITY, "account", "jdoe"), "202": identity_key(IDENTITY, "account", "asmith"),
                    "203": identity_key(IDENTITY, "account", "jdoe"), "204": None,
                    "205": identity_key(IDENTITY, "account", "mlee")}
    assert fake.lookups == 5 + 2  # one Ticket_User a ticket, one User a requester (jdoe once)


def test_reads_newest_first_and_stops_at_the_cursor(fake, make, engine):
    with serve(fake.handler) as server:
        connector = make(server.url, fake.secret)
        poll(engine, connector, NOW)
        assert source_row(engine, "glpi-test")["cursor"] == "2026-11-23T08:47:19.000Z"
        fake.change("202")
        sent = len(server.requests)
        result = poll(engine, connector, NOW)
        ranges = [r.query["range"][0] for r in server.requests[sent:] if r.path.endswith("/Ticket")]
    # 0-1: the changed ticket and the newest before; 2-3 holds older ones: the end (of 3 pages)
    assert ranges == ["0-1", "2-3"] and result.stored.updated == 1
    assert source_row(engine, "glpi-test")["cursor"] == "2026-11-24T11:50:01.000Z"


def test_the_cursor_moves_only_once_the_poll_is_complete(fake, make, engine):
    with serve(fake.handler) as server:
        fake.fail_after(server, pages=2)
        result = poll(engine, make(server.url, fake.secret), NOW)
    assert result.error and result.pages == 2 and result.stored.inserted == 4
    assert source_row(engine, "glpi-test")["cursor"] is None


def test_expired_session_is_an_auth_failure(fake, make, engine):
    with serve(fake.handler) as server:
        fake.page_served = lambda: fake.sessions.clear()  # the session ends after the first page
        result = poll(engine, make(server.url, fake.secret), NOW)
    assert result.error == "glpi-test: the source refused the credentials (HTTP 401)"
    assert source_row(engine, "glpi-test")["failures_total"] == 1


def test_without_app_token(fake, make, engine):
    with serve(fake.handler) as server:
        result = poll(engine, make(server.url, USER_TOKEN), NOW)
        assert "app-token" not in server.requests[0].headers
    assert result.error == "glpi-test: HTTP 400 for GET /initSession"


def test_a_range_cut_short_by_the_server_is_read_on(fake, make, engine):
    """A server that answers fewer tickets than asked (its range limit) is paged by the total it gives."""
    answer = fake.handler

    def capped(req):
        if "range" in req.query:
            first = int(req.query["range"][0].split("-")[0])
            req.query["range"] = [f"{first}-{first}"]
        return answer(req)

    with serve(capped) as server:
        result = poll(engine, make(server.url, fake.secret, page_size=3), NOW)
    assert result.error is None and result.pages == 5 and len(stored(engine, "glpi-test")) == 5


def test_numbers_written_as_strings(fake, make, engine):
    for record in fake.records:
        record["id"], record["priority"] = str(record["id"]), str(record["priority"])
    with serve(fake.handler) as server:
        poll(engine, make(server.url, fake.secret), NOW)
    assert stored(engine, "glpi-test")["203"]["priority"] == "very high"


def test_config():
    scenarios.check_config(Glpi, url="https://glpi.example.org/apirest.php")


class TestCommon(scenarios.Common):
    now = NOW

    def credentials(self, make):
        return lambda url, secret: make(url, f"{secret} {APP_TOKEN}")  # GLPI's secret: the user token, the app token

