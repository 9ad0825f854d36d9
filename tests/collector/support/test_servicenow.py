"""The ServiceNow connector against a local server answering like the Table API (tests/collector/support/itsms.py):
Link-header paging, dot-walked fields, UTC times, Basic and bearer auth, updates, outages, malformed records."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from collector.support.config import SourceSettings, SupportSettings
from collector.support.polling import connectors
from collector.support.sources import base
from collector.support.sources.base import poll
from collector.support.sources.servicenow import nested
from contract.identity import identity_key
from tests.collector.support.itsm import Reply, fixture, serve
from tests.collector.support.itsms import (
    SERVICENOW_PASSWORD, SERVICENOW_TOKEN, SERVICENOW_USER, health, servicenow, tickets,
)

NOW = datetime(2026, 11, 5, tzinfo=timezone.utc).timestamp()
SECRET = b"fleet-identity-key-0123456789"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(base, "RETRY_DELAYS_S", (0.01, 0.01, 0.01))


def make(url: str, tmp_path, page_size: int = 2, bearer: bool = False, secret: str | None = None, **source):
    key = tmp_path / "identity.key"
    key.write_bytes(SECRET)
    secret_file = tmp_path / "servicenow.secret"
    secret_file.write_text((secret or (SERVICENOW_TOKEN if bearer else SERVICENOW_PASSWORD)) + "\n")
    settings = SourceSettings(name="servicenow-emea", kind="servicenow", url=url,
                              user="" if bearer else SERVICENOW_USER, secret_file=str(secret_file),
                              page_size=page_size, **source)
    return connectors(SupportSettings(identity_key_file=str(key), sources=[settings]))[0]


def incidents(name: str = "servicenow_incidents.json") -> list:
    return fixture(name)["result"]



def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("page_size", [1, 2, 100])
def test_pages_follow_the_link_header_each_incident_once_and_the_cursor_kept(db_engine, tmp_path, page_size):
    with serve(servicenow(incidents())) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, page_size), NOW)
    assert done.error is None
    assert (done.fetched, done.stored.inserted) == (7, 7)
    assert health(db_engine)["cursor"] == "2026-11-04T07:00:00Z"
    first = itsm.requests[0].query
    assert first["sysparm_query"] == ["sys_updated_on>=2026-10-01 00:00:00^ORDERBYsys_updated_on^ORDERBYsys_id"]
    assert first["sysparm_display_value"] == ["false"] and first["sysparm_exclude_reference_link"] == ["true"]
    fields = first["sysparm_fields"][0].split(",")
    assert "caller_id.user_name" in fields and "cmdb_ci.name" in fields
    assert "short_description" not in fields and "description" not in fields
    if page_size == 100:
        assert len(itsm.requests) == 1  # no rel="next": the last page


def test_fields_channels_and_keys_are_mapped_from_dot_walked_references(db_engine, tmp_path):
    with serve(servicenow(incidents())) as itsm:
        poll(db_engine, make(itsm.url, tmp_path), NOW)
    got = tickets(db_engine)
    one = got["INC0010001"]
    assert (one["channel"], one["priority"], one["category"], one["work_stopping"]) == ("phone", "1", "hardware", True)
    assert (one["opened_at"], one["resolved_at"]) == (ts("2026-11-02 08:05:12"), ts("2026-11-02 10:40:00"))
    assert (one["site"], one["department"]) == ("Paris", "Finance")
    assert one["account_key"] == identity_key(SECRET, "account", "jdoe")
    assert one["host_key"] == identity_key(SECRET, "host", "PC-0042")
    assert one["asset_key"] == identity_key(SECRET, "asset", "P000123")
    assert {t: got[t]["channel"] for t in got} == {
        "INC0010001": "phone", "INC0010002": "email", "INC0010003": "portal", "INC0010004": "walk_in",
        "INC0010005": "chat", "INC0010006": "chat", "INC0010007": "other"}
    assert got["INC0010002"]["resolved_at"] is None  # "" while open
    bare = got["INC0010007"]
    assert (bare["site"], bare["department"], bare["account_key"], bare["host_key"]) == ("", "", None, None)
    assert "jdoe" not in repr(got)


def test_dot_walked_keys_become_objects():
    assert nested({"number": "INC1", "caller_id.user_name": "jdoe", "caller_id.department.name": "Finance"}) == {
        "number": "INC1", "caller_id": {"user_name": "jdoe", "department": {"name": "Finance"}}}
    # a plain value of the same name wins; a record that is not an object stays as it is
    assert nested({"cmdb_ci": "0a1b", "cmdb_ci.name": "PC-1"}) == {"cmdb_ci": "0a1b"}
    assert nested("garbage") == "garbage"


def test_a_bearer_token_is_sent_when_no_user_is_configured(db_engine, tmp_path):
    with serve(servicenow(incidents(), bearer=True)) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, bearer=True), NOW)
    assert done.error is None and done.stored.inserted == 7
    assert itsm.requests[0].headers["authorization"] == f"Bearer {SERVICENOW_TOKEN}"


@pytest.mark.parametrize("bearer", [False, True])
def test_wrong_credentials_are_a_counted_failure_showing_no_secret(db_engine, tmp_path, caplog, bearer):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-0002-do-not-log"
    with serve(servicenow(incidents(), bearer=bearer)) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, bearer=bearer, secret=wrong), NOW)
    assert "refused the credentials (HTTP 401)" in done.error and len(itsm.requests) == 1
    assert tickets(db_engine) == {}
    h = health(db_engine)
    assert (h["failures_total"], h["cursor"]) == (1, None)
    assert wrong not in caplog.text + done.error + h["last_error"]


def test_an_incident_changed_after_import_is_updated_not_doubled(db_engine, tmp_path):
    records = incidents()
    with serve(servicenow(records)) as itsm:
        connector = make(itsm.url, tmp_path)
        poll(db_engine, connector, NOW)
        records[1].update(sys_updated_on="2026-11-04 09:30:00", resolved_at="2026-11-04 09:30:00", priority="1")
        again = poll(db_engine, connector, NOW)
    assert (again.stored.inserted, again.stored.updated, again.stored.unchanged) == (0, 1, 1)
    got = tickets(db_engine)
    assert len(got) == 7
    assert (got["INC0010002"]["resolved_at"], got["INC0010002"]["work_stopping"]) == (ts("2026-11-04 09:30:00"), True)


def test_a_source_down_is_retried_then_recorded_and_resumed_without_loss_or_doubles(db_engine, tmp_path):
    with serve(servicenow(incidents())) as itsm:
        connector = make(itsm.url, tmp_path)
        itsm.down = True
        down = poll(db_engine, connector, NOW)
        assert "HTTP 503" in down.error and len(itsm.requests) == 4
        assert health(db_engine)["cursor"] is None and tickets(db_engine) == {}
        itsm.down = False
        itsm.failures = 3  # three more 503s: the last retry gets through
        back = poll(db_engine, connector, NOW)
    assert back.error is None and back.stored.inserted == 7
    h = health(db_engine)
    assert (h["failures_total"], h["fetched_total"], h["last_error"]) == (1, 7, None)


def test_rate_limited_requests_wait_and_retry(db_engine, tmp_path):
    serve_sn = servicenow(incidents())
    answered = []

    def handler(req):
        answered.append(req)
        if len(answered) == 1:
            return Reply(429, {"error": {"message": "Too many requests"}, "status": "failure"}, {"Retry-After": "0"})
        return serve_sn(req)

    with serve(handler) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, page_size=100), NOW)
    assert done.error is None and done.stored.inserted == 7 and len(itsm.requests) == 2


def test_malformed_records_are_counted_and_skipped_with_their_reason(db_engine, tmp_path):
    with serve(servicenow(incidents("servicenow_malformed.json"))) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, page_size=50), NOW)
    assert done.error is None
    stored = tickets(db_engine)
    assert sorted(stored) == sorted(["INC0010008", "INC0010011"])
    assert len(stored["INC0010011"]["category"]) == 128  # a long category is cut to its bound, the ticket kept
    skipped = done.stored.skipped
    assert skipped["no ticket id"] == 2  # empty, an object
    assert not any(reason.startswith("category") for reason in skipped)
    assert skipped["resolved before it was opened"] == 1
    assert skipped["opened_at must be a time between 2000 and now"] == 1  # a number: Unix seconds of 1970
    assert sum(n for reason, n in skipped.items() if reason.startswith("not a time")) == 1
    assert sum(n for reason, n in skipped.items() if reason.startswith("priority must be")) == 1
    assert (health(db_engine)["fetched_total"], health(db_engine)["skipped_total"]) == (8, 6)


def test_an_answer_without_a_result_list_is_a_failure(db_engine, tmp_path):
    with serve(lambda req: Reply(200, {"error": {"message": "Invalid table incident"}, "status": "failure"})) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert "'result' is not a list of records" in done.error
    assert health(db_engine)["failures_total"] == 1


def test_an_answer_too_large_is_a_failure_read_no_further(db_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(base, "MAX_RESPONSE_BYTES", 512)
    with serve(servicenow(incidents())) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, page_size=100), NOW)
    assert done.error == "servicenow-emea: the answer exceeds 512 bytes" and len(itsm.requests) == 1
    assert tickets(db_engine) == {}


def test_a_compressed_answer_is_read(db_engine, tmp_path):
    import gzip
    import json

    plain = servicenow(incidents())

    def handler(req):
        reply = plain(req)
        return Reply(reply.status, gzip.compress(json.dumps(reply.body).encode()),
                     {**reply.headers, "Content-Encoding": "gzip"})

    with serve(handler) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert done.error is None and done.stored.inserted == 7 and len(itsm.requests) > 1  # the Link header followed


def test_an_answer_nested_beyond_reason_is_a_failure(db_engine, tmp_path):
    deep = b'{"result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with serve(lambda req: Reply(200, deep)) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert "not JSON" in done.error and health(db_engine)["failures_total"] == 1
