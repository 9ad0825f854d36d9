"""The TOPdesk connector against a local server answering like TOPdesk's incidents API (tests/collector/support/
itsms.py): paging by 206, the keyset cursor, updates, wrong credentials, outages and malformed records."""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timezone

import pytest

from collector.support.config import SourceSettings, SupportSettings
from collector.support.polling import connectors
from collector.support.sources import base
from collector.support.sources.base import poll
from contract.identity import identity_key
from tests.collector.support.itsm import Reply, fixture, serve
from tests.collector.support.itsms import TOPDESK_PASSWORD, TOPDESK_USER, health, tickets, topdesk

NOW = datetime(2026, 11, 5, tzinfo=timezone.utc).timestamp()
SECRET = b"fleet-identity-key-0123456789"
ENV = "HINDER_TEST_TOPDESK_PASSWORD"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(base, "RETRY_DELAYS_S", (0.01, 0.01, 0.01))
    monkeypatch.setenv(ENV, TOPDESK_PASSWORD)


def make(url: str, tmp_path, page_size: int = 2, **source):
    key = tmp_path / "identity.key"
    key.write_bytes(SECRET)
    settings = SourceSettings(name="topdesk-nl", kind="topdesk", url=url, user=TOPDESK_USER, secret_env=ENV,
                              page_size=page_size, **source)
    return connectors(SupportSettings(identity_key_file=str(key), sources=[settings]))[0]



@pytest.mark.parametrize("page_size", [1, 2, 100])
def test_pages_are_read_in_order_each_incident_once_and_the_cursor_kept(db_engine, tmp_path, page_size):
    with serve(topdesk(fixture("topdesk_incidents.json"))) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, page_size), NOW)
    assert done.error is None
    assert (done.fetched, done.stored.inserted) == (7, 7)
    assert health(db_engine)["cursor"] == "2026-11-04T07:00:00Z"
    first = itsm.requests[0].query
    assert first["query"] == ["modificationDate=ge=2026-10-01T00:00:00Z"]  # since_days (35) before NOW
    assert first["sort"] == ["modificationDate:asc,id:asc"]
    assert "request" not in first["fields"][0].split(",") and "caller" in first["fields"][0].split(",")
    if page_size == 2:  # three incidents share 10:40:00: the second request covers the two read and two more
        assert [(r.query["pageStart"], r.query["pageSize"]) for r in itsm.requests] == [
            (["0"], ["2"]), (["0"], ["4"]), (["0"], ["3"]), (["0"], ["4"])]


def test_fields_channels_and_keys_are_mapped_and_no_name_is_kept(db_engine, tmp_path):
    with serve(topdesk(fixture("topdesk_incidents.json"))) as itsm:
        poll(db_engine, make(itsm.url, tmp_path), NOW)
    got = tickets(db_engine)
    one = got["I 2611 001"]
    assert (one["source"], one["channel"], one["priority"], one["category"]) == ("topdesk-nl", "phone", "P1", "Workplace")
    assert one["work_stopping"] is True and one["resolved_at"] == datetime(2026, 11, 2, 10, 40, tzinfo=timezone.utc).timestamp()
    assert one["opened_at"] == datetime(2026, 11, 2, 8, 5, 12, tzinfo=timezone.utc).timestamp()
    assert (one["site"], one["department"]) == ("Amsterdam", "Finance")
    assert one["account_key"] == identity_key(SECRET, "account", "j.devries@example.org")
    assert one["host_key"] == identity_key(SECRET, "host", "PC-0042")
    assert one["asset_key"] == identity_key(SECRET, "asset", "PC-0042")
    assert {t: got[t]["channel"] for t in got} == {
        "I 2611 001": "phone", "I 2611 002": "email", "I 2611 003": "portal", "I 2611 004": "walk_in",
        "I 2611 005": "chat", "I 2611 006": "other", "I 2611 007": "other"}
    assert got["I 2611 002"]["resolved_at"] is None and got["I 2611 002"]["work_stopping"] is False
    bare = got["I 2611 007"]
    assert (bare["priority"], bare["site"], bare["account_key"], bare["host_key"]) == ("", "", None, None)
    stored = repr(got)
    assert "Vries" not in stored and "devries" not in stored and "PC-0042" not in stored


def test_an_incident_changed_after_import_is_updated_not_doubled(db_engine, tmp_path):
    incidents = fixture("topdesk_incidents.json")
    with serve(topdesk(incidents)) as itsm:
        connector = make(itsm.url, tmp_path)
        poll(db_engine, connector, NOW)
        incidents[1]["modificationDate"] = incidents[1]["completedDate"] = "2026-11-04T09:30:00.000+0000"
        again = poll(db_engine, connector, NOW)
    assert (again.stored.inserted, again.stored.updated, again.stored.unchanged) == (0, 1, 1)  # 007 re-read
    got = tickets(db_engine)
    assert len(got) == 7
    assert got["I 2611 002"]["resolved_at"] == datetime(2026, 11, 4, 9, 30, tzinfo=timezone.utc).timestamp()
    assert health(db_engine)["cursor"] == "2026-11-04T09:30:00Z"


def test_an_incident_changing_while_the_poll_pages_costs_no_other(db_engine, tmp_path):
    incidents = fixture("topdesk_incidents.json")
    serve_topdesk = topdesk(incidents)

    def handler(req):
        reply = serve_topdesk(req)
        if len(itsm.requests) == 1:  # after the first page, the first incident changes: the rest shift by one
            incidents[0]["modificationDate"] = "2026-11-04T12:00:00.000+0000"
        return reply

    with serve(handler) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert done.error is None and len(tickets(db_engine)) == 7
    assert (done.stored.inserted, done.stored.updated) == (7, 1)  # 001 read again at its new time


def test_wrong_credentials_are_a_counted_failure_storing_nothing_and_showing_no_secret(db_engine, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with serve(topdesk(fixture("topdesk_incidents.json"), password="the-real-one")) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert "refused the credentials (HTTP 401)" in done.error
    assert len(itsm.requests) == 1  # not retried
    assert tickets(db_engine) == {}
    h = health(db_engine)
    assert (h["failures_total"], h["last_success"], h["cursor"]) == (1, None, None)
    assert h["last_error"] == done.error
    assert TOPDESK_PASSWORD not in caplog.text + done.error + h["last_error"]
    assert "refused the credentials" in caplog.text


def test_a_missing_secret_is_a_recorded_failure(db_engine, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV)
    with serve(topdesk(fixture("topdesk_incidents.json"))) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert f"{ENV} is not set" in done.error and itsm.requests == []
    assert health(db_engine)["failures_total"] == 1


def test_a_source_down_is_retried_then_recorded_and_resumed_without_loss_or_doubles(db_engine, tmp_path):
    state = {"down_after": 1}
    serve_topdesk = topdesk(fixture("topdesk_incidents.json"))

    def handler(req):
        if state["down_after"] is not None and len(itsm.requests) > state["down_after"]:
            return Reply(503, {"message": "maintenance"})
        return serve_topdesk(req)

    with serve(handler) as itsm:
        connector = make(itsm.url, tmp_path)
        down = poll(db_engine, connector, NOW)
        assert "HTTP 503" in down.error and "after 4 attempts" in down.error
        assert len(itsm.requests) == 1 + 4  # the first page, then the second asked 1 + 3 retries
        h = health(db_engine)
        assert (h["failures_total"], h["cursor"], h["fetched_total"]) == (1, "2026-11-02T10:40:00Z", 2)
        assert len(tickets(db_engine)) == 2
        state["down_after"] = None
        back = poll(db_engine, connector, NOW)
    assert back.error is None
    assert (back.stored.inserted, back.stored.unchanged) == (5, 2)  # the second read from 10:40:00 on again
    assert len(tickets(db_engine)) == 7
    h = health(db_engine)
    assert h["failures_total"] == 1 and h["last_error"] is None and h["last_success"] == NOW


def test_a_brief_outage_is_ridden_out_by_the_retries(db_engine, tmp_path):
    with serve(topdesk(fixture("topdesk_incidents.json"))) as itsm:
        itsm.failures = 2
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert done.error is None and done.stored.inserted == 7
    assert health(db_engine)["failures_total"] == 0


def test_malformed_records_are_counted_and_skipped_with_their_reason(db_engine, tmp_path):
    with serve(topdesk(fixture("topdesk_malformed.json"))) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path, page_size=50), NOW)
    assert done.error is None
    stored = tickets(db_engine)
    assert sorted(stored) == sorted(["I 2611 008", "I 2611 011"])
    assert len(stored["I 2611 011"]["category"]) == 128  # a long category is cut to its bound, the ticket kept
    skipped = done.stored.skipped
    assert skipped["no ticket id"] == 3  # missing, an object, a record that is not an object
    assert not any(reason.startswith("category") for reason in skipped)
    assert skipped["resolved before it was opened"] == 1
    assert sum(n for reason, n in skipped.items() if reason.startswith("not a time")) == 2
    assert sum(n for reason, n in skipped.items() if reason.startswith("priority must be")) == 1
    h = health(db_engine)
    assert (h["fetched_total"], h["skipped_total"]) == (9, 7)


def test_a_garbage_answer_is_a_failure_not_a_crash(db_engine, tmp_path):
    with serve(lambda req: Reply(200, b"<html>login</html>")) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert "not JSON" in done.error
    with serve(lambda req: Reply(206, {"incidents": []})) as itsm:
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert "unexpected answer to the record list (not a JSON list)" in done.error
    assert health(db_engine)["failures_total"] == 2


def test_a_device_named_by_the_incident_is_joined(api, tmp_path):
    import time

    from tests.collector.batches import batch, body, heartbeat

    now = time.time()
    assert api.post(body(batch([], [heartbeat(now, host_key=identity_key(SECRET, "host", "pc-0042"))]))).status_code < 300
    incidents = copy.deepcopy(fixture("topdesk_incidents.json"))[:1]
    with serve(topdesk(incidents)) as itsm:
        poll(api.engine, make(itsm.url, tmp_path), NOW)
    assert tickets(api.engine)["I 2611 001"]["device_id"] is not None



def test_a_source_repeating_one_page_forever_is_read_once(db_engine, tmp_path):
    incidents = fixture("topdesk_incidents.json")[:2]
    with serve(lambda req: Reply(206, incidents)) as itsm:  # "more to come", always the same two
        done = poll(db_engine, make(itsm.url, tmp_path), NOW)
    assert (done.error, done.pages, done.stored.inserted) == (None, 2, 2)  # the second page had nothing new
    assert len(itsm.requests) == 2
