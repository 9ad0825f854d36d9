"""The generic ticket record: CSV and JSON read as documented, names hashed on arrival, every bad record named."""

from __future__ import annotations

import gzip
import json

import pytest

from collector.support.config import SupportSettings
from collector.support.generic import (CHANNEL_SYNONYMS, MAX_VALUE_LEN, FormatError, channel, detect_format,
                                       read_tickets)
from collector.support.tickets import CHANNELS
from contract.identity import identity_key
from tests.collector.support.itsm import FIXTURES

SECRET = b"fleet-identity-key-for-tests-0001"
NOW = 1796256000.0  # 2026-12-03


def _read(name: str, fmt: str | None = None, secret: bytes | None = SECRET, **kw):
    data = (FIXTURES / name).read_bytes()
    return read_tickets(data, fmt or detect_format(data, name), "import", SupportSettings(), secret, now=NOW, **kw)


def test_csv_with_bom_quotes_and_line_breaks():
    read = _read("generic.csv")
    by_id = {t.ticket_id: t for t in read.tickets}
    assert sorted(by_id) == ["INC0010001", "INC0010002", "INC0010003"]
    first = by_id["INC0010001"]
    assert (first.channel, first.priority, first.category, first.site, first.department) == (
        "phone", "2 - High", "Software", "Paris", "Sales")
    assert first.opened_at == 1796026320.0 and first.resolved_at == 1796031600.0
    # names in clear are hashed as the agent hashes them, then forgotten
    assert first.host_key == identity_key(SECRET, "host", "pc-0042")
    assert first.account_key == identity_key(SECRET, "account", "jdoe")
    assert first.asset_key is None and not first.work_stopping
    second = by_id["INC0010002"]  # no offset: UTC; a quoted line break inside a field stays one record
    assert second.opened_at == 1796033100.0 and second.channel == "email" and second.resolved_at is None
    assert second.work_stopping is False  # "1 - Critical" is not in the default priorities as written
    third = by_id["INC0010003"]
    assert third.opened_at == 1796032800.0 and third.channel == "portal" and third.updated_at == third.opened_at
    assert read.ignored_columns == ["summary"]
    assert dict(read.skipped) == {"opened_at is not a time: give ISO 8601 (2026-11-30T09:12:00Z) or Unix seconds": 1,
                                  "no id": 1}
    assert [where for where, _ in read.problems] == ["row 5", "row 6"]  # records counted as a spreadsheet shows rows


def test_json_lines_names_each_bad_line():
    read = _read("generic.jsonl")
    by_id = {t.ticket_id: t for t in read.tickets}
    assert sorted(by_id) == ["SD-101", "SD-102"]
    assert by_id["SD-101"].host_key == "0123456789abcdef0123456789abcdef"  # lowercased, as the agent sends it
    assert by_id["SD-101"].work_stopping  # P1 is work-stopping in the default [support] mapping
    assert by_id["SD-101"].channel == "walk_in"
    assert by_id["SD-102"].opened_at == 1796029200.0 and by_id["SD-102"].channel == "remote"
    assert by_id["SD-102"].work_stopping and by_id["SD-102"].site == "Berlin"
    assert read.problems == [("line 4", "not valid JSON"), ("line 5", "not an object with the ticket's columns"),
                             ("line 6", "priority must be a text, a number or empty, not a JSON dict")]


def test_json_array():
    read = _read("generic.json")
    assert [t.ticket_id for t in read.tickets] == ["REQ-1", "2"]
    assert read.tickets[0].opened_at == 1796025600.123 and read.tickets[0].channel == "portal"
    assert read.tickets[0].work_stopping is False and read.tickets[1].channel == "phone"
    assert not read.skipped


def test_names_without_a_key_are_counted_and_not_joined():
    read = _read("generic.csv", secret=None)
    assert read.not_hashed == 2
    assert all(t.host_key is None and t.account_key is None for t in read.tickets)


def test_channels_and_synonyms():
    for c in CHANNELS:
        assert channel(c) == c and channel(c.upper()) == c
    assert set(CHANNEL_SYNONYMS.values()) <= set(CHANNELS)
    cases = {"E-Mail": "email", "Self-Service": "portal", "walk-in": "walk_in", "Walk In": "walk_in",
             "virtual_agent": "chat", "Remote  Session": "remote", "": "other", "carrier pigeon": "other"}
    assert {k: channel(k) for k in cases} == cases


@pytest.mark.parametrize("record, reason", [
    ({"id": "x", "opened_at": "2026-11-30T08:00:00Z", "resolved_at": "2026-11-29T08:00:00Z"},
     "resolved before it was opened"),
    ({"id": "x", "opened_at": 1e308}, "opened_at must be a time between 2000 and now"),
    ({"id": "x", "opened_at": 10 ** 400}, "opened_at is not a time"),
    ({"id": "x", "opened_at": "1999-01-01T00:00:00Z"}, "opened_at must be a time between 2000 and now"),
    ({"id": "x\u0000y", "opened_at": 1796025600}, "ticket id must be"),
    ({"id": "x" * 2000, "opened_at": 1796025600}, f"id is longer than {MAX_VALUE_LEN}"),
    ({"id": "x", "opened_at": 1796025600, "site": "s" * 200}, "site must be at most"),
    ({"id": "x", "opened_at": 1796025600, "host_key": "not-hex"}, "host_key must be 32 lowercase hex"),
    ({"id": "x", "opened_at": 1796025600, "work_stopping": "maybe"}, "work_stopping must be true or false"),
    ({"id": "x", "opened_at": True}, "opened_at is not a time"),
    ({"id": "x", "opened_at": 1796025600, "priority": True}, "priority must be a text"),
    ({"id": ["x"], "opened_at": 1796025600}, "id must be a text"),
])
def test_bad_records_are_skipped_with_their_reason(record, reason):
    good = {"id": "ok", "opened_at": 1796025600}
    body = "\n".join(json.dumps(r) for r in (good, record, good)).encode()
    read = read_tickets(body, "jsonl", "webhook", SupportSettings(), SECRET, now=NOW)
    assert [t.ticket_id for t in read.tickets] == ["ok", "ok"]
    assert len(read.problems) == 1 and read.problems[0][0] == "line 2"
    assert read.problems[0][1].startswith(reason), read.problems


@pytest.mark.parametrize("data, fmt, message", [
    (b"\xff\xfeid,opened_at\n", "csv", "not UTF-8"),
    (b"summary,when\nx,y\n", "csv", "has no id or opened_at column"),
    (b"id,opened_at,id\n1,2,3\n", "csv", "names 'id' twice"),
    (b'"id,opened_at\n', "csv", r"header \(row 1\) is not valid CSV"),
    (b'{"id": 1}', "json", "must be an array"),
    (b"[" * 100_000 + b"]" * 100_000, "json", "nested too deeply"),
    (b"[{", "json", "not valid JSON"),
    (gzip.compress(b"[]"), "json", "not UTF-8"),
])
def test_what_is_not_a_file_of_records_is_refused_whole(data, fmt, message):
    with pytest.raises(FormatError, match=message):
        read_tickets(data, fmt, "import", SupportSettings(), SECRET, now=NOW)


def test_a_row_that_is_not_valid_csv_is_skipped_and_the_next_read():
    data = b'id,opened_at\n"a"b,1796025600\nc,1796025600\nd,1796025600,extra\n"e,1796025600\n'
    read = read_tickets(data, "csv", "import", SupportSettings(), SECRET, now=NOW)
    assert [t.ticket_id for t in read.tickets] == ["c"]
    assert read.problems == [("row 2", "not valid CSV: ',' expected after '\"'"), ("row 4", "has 3 fields, the header 2"),
                             ("row 5", "not valid CSV: unexpected end of data")]


def test_bounded_number_of_records():
    body = "\n".join(json.dumps({"id": str(i), "opened_at": 1796025600}) for i in range(11)).encode()
    with pytest.raises(FormatError, match="more than 10 records"):
        read_tickets(body, "jsonl", "import", SupportSettings(), SECRET, now=NOW, max_records=10)
    assert len(read_tickets(body, "jsonl", "import", SupportSettings(), SECRET, now=NOW, max_records=11).tickets) == 11


def test_work_stopping_follows_the_configured_mapping_unless_given():
    support = SupportSettings(work_stopping_priorities=["1 - critical"], work_stopping_categories=["Outage"])
    rows = b"id,opened_at,priority,category,work_stopping\na,1796025600,1 - Critical,,\nb,1796025600,4,outage,\n" \
           b"c,1796025600,4,,\nd,1796025600,1 - Critical,,no\ne,1796025600,4,,yes\n"
    read = read_tickets(rows, "csv", "import", support, SECRET, now=NOW)
    assert {t.ticket_id: t.work_stopping for t in read.tickets} == {"a": True, "b": True, "c": False, "d": False,
                                                                    "e": True}


def test_format_detection():
    assert detect_format(b"", "x.CSV") == "csv" and detect_format(b"", "x.ndjson") == "jsonl"
    assert detect_format(b"\xef\xbb\xbf [") == "json" and detect_format(b'\n{"id"') == "jsonl"
    assert detect_format(b"id,opened_at") == "csv"
