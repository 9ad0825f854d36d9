"""The Jira Service Management connector against a local Jira Cloud stand-in.

fixtures/jira_search.json holds issues as the enhanced JQL search
(``GET /rest/api/3/search/jql``, Jira Cloud platform REST API v3) answers
them: ``issues`` with ``id``, ``key``, ``self`` and the asked ``fields``
(``created``/``updated``/``resolutiondate`` as 2026-11-20T09:02:11.120+0100,
``priority`` and ``components`` objects, ``labels``, ``reporter`` as a user
object whose ``emailAddress`` may be hidden), paged by ``nextPageToken`` until
``isLast``. fixtures/jira_myself.json is ``GET /rest/api/3/myself`` (its
``timeZone`` is the zone JQL dates are read in). fixtures/jira_channels.json is
what ``request-channel-type`` (email, portal, anonymousportal, jira, api)
finds for each issue: the channel is not an issue field. The stand-in checks
HTTP Basic (account e-mail and API token) and evaluates the two JQL forms the
connector sends.
"""

from __future__ import annotations

import base64
import copy
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from collector.support.sources.base import parse_source_time, poll
from collector.support.sources.jira import Jira
from contract.identity import identity_key
from tests.collector.support import scenarios
from tests.collector.support.itsm import Reply, fixture, serve
from tests.collector.support.scenarios import make_connector, stored

engine, fast_retries = scenarios.engine, scenarios.fast_retries  # fixtures
pytestmark = pytest.mark.usefixtures("fast_retries")

NOW = parse_source_time("2026-11-24T12:00:00Z")
USER = "svc-hinder@example.com"
TOKEN = "ATATT3xFfGF0-jira-api-token"
IDENTITY = b"fleet-identity-key-0123456789"
BERLIN = ZoneInfo("Europe/Berlin")
_SINCE = re.compile(r'^updated >= "(\d{4}-\d\d-\d\d \d\d:\d\d)" ORDER BY updated ASC$')
_CHANNEL = re.compile(r'^id in \(([0-9,]+)\) AND request-channel-type = "([a-z]+)"$')


class FakeJira(scenarios.Fake):
    secret = TOKEN
    bad_reason = "not a time: 'not a date'"

    def __init__(self):
        super().__init__(fixture("jira_search.json")["issues"])
        self.channels = fixture("jira_channels.json")
        self.changes = 0

    @staticmethod
    def id_of(record) -> str:
        return record["id"]

    def change(self, ticket_id: str, when: float | None = None) -> None:
        self.changes += 1
        fields = next(r for r in self.records if r["id"] == ticket_id)["fields"]
        when = NOW - 600 + self.changes if when is None else when
        fields["updated"] = datetime.fromtimestamp(when, BERLIN).strftime("%Y-%m-%dT%H:%M:%S.000%z")
        fields["priority"]["name"] = "Lowest" if fields["priority"]["name"] != "Lowest" else "Highest"

    def malformed(self) -> dict:
        record = copy.deepcopy(self.records[0])
        record.update(id="10099", key="ITS-99")
        record["fields"]["created"] = "not a date"
        return record

    def handler(self, req):
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return Reply(401, b"Client must be authenticated to access this resource.", {"Content-Type": "text/plain"})
        if req.path == "/rest/api/3/myself":
            return Reply(200, fixture("jira_myself.json"))
        if req.path != "/rest/api/3/search/jql":
            return Reply(404, {"errorMessages": ["Not found"], "errors": {}})
        q = {k: v[0] for k, v in req.query.items()}
        by_channel = _CHANNEL.match(q["jql"])
        if by_channel:
            ids, value = by_channel.group(1).split(","), by_channel.group(2)
            found = [{"id": i} for i in ids if self.channels.get(i) == value]
            return Reply(200, {"issues": found, "isLast": True})
        since = _SINCE.match(q["jql"])
        if not since:
            return Reply(400, {"errorMessages": [f"Error in the JQL Query: {q['jql']}"], "errors": {}})
        bound = datetime.strptime(since.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN).timestamp()
        hits = sorted((r for r in self.records if parse_source_time(r["fields"]["updated"]) >= bound),
                      key=lambda r: (parse_source_time(r["fields"]["updated"]), r["id"]))
        size = int(q.get("maxResults", 50))
        offset = int(base64.b64decode(q["nextPageToken"])) if "nextPageToken" in q else 0
        page = hits[offset:offset + size]
        self.page_served()
        body = {"issues": page, "isLast": offset + size >= len(hits)}
        if not body["isLast"]:
            body["nextPageToken"] = base64.b64encode(str(offset + size).encode()).decode()
        return Reply(200, body)


@pytest.fixture
def fake():
    return FakeJira()


@pytest.fixture
def make(monkeypatch):
    return lambda url, secret, **kw: make_connector(Jira, url, secret, monkeypatch, user=USER, **kw)


def test_pages_and_fields(fake, make, db_engine):
    scenarios.check_pages(fake, lambda url, secret: make(url, secret, identity=IDENTITY), db_engine, NOW)
    rows = stored(db_engine, "jira-test")
    assert {k: r["channel"] for k, r in rows.items()} == {"10001": "email", "10002": "portal", "10003": "other",
                                                           "10004": "portal", "10005": "other"}
    assert {k: r["category"] for k, r in rows.items()} == {"10001": "Network", "10002": "email-outage",
                                                            "10003": "Hardware", "10004": "", "10005": "Software"}
    assert rows["10001"]["opened_at"] == parse_source_time("2026-11-20T08:02:11.120Z")
    assert rows["10001"]["resolved_at"] == parse_source_time("2026-11-20T09:15:40.338Z")
    assert rows["10002"]["priority"] == "Highest" and rows["10002"]["work_stopping"]
    assert rows["10001"]["account_key"] == identity_key(IDENTITY, "account", "jdoe@example.com")
    assert rows["10004"]["account_key"] is None  # e-mail hidden: no join, the contact still counts


def test_jql_dates_in_the_accounts_zone_and_minute_steps(fake, make, engine):
    with serve(fake.handler) as server:
        poll(engine, make(server.url, fake.secret), NOW)
        searches = [r.query for r in server.requests if r.path.endswith("/search/jql")]
    main = [q["jql"][0] for q in searches if q["jql"][0].startswith("updated")]
    assert main[0] == 'updated >= "2026-10-20 14:00" ORDER BY updated ASC'  # 35 days before NOW, in Berlin (CEST)
    # 10002 and 10003 were changed in the same minute: the next page of that query is read, not the query again
    assert any("nextPageToken" in q and q["jql"][0] == 'updated >= "2026-11-21 08:30" ORDER BY updated ASC'
               for q in searches)
    assert all(q["fields"][0] == "components,created,labels,priority,reporter,resolutiondate,updated"
               for q in searches if q["jql"][0].startswith("updated"))


def test_channel_mapping_is_configurable(fake, make, engine):
    with serve(fake.handler) as server:
        poll(engine, make(server.url, fake.secret, channels={"jira": "phone"}), NOW)
    assert stored(engine, "jira-test")["10003"]["channel"] == "phone"


def test_unknown_time_zone(fake, make, engine, monkeypatch):
    me = {**fixture("jira_myself.json"), "timeZone": "Mars/Olympus_Mons"}
    with serve(lambda req: Reply(200, me)) as server:
        result = poll(engine, make(server.url, fake.secret), NOW)
    assert result.error == "jira-test: the account's time zone 'Mars/Olympus_Mons' is unknown"


def test_config():
    scenarios.check_config(Jira, url="https://example.atlassian.net", user=USER)


class TestCommon(scenarios.Common):
    now = NOW
