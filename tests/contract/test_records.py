"""The wire records: ids, the time format, fields declared once with their rules."""

import dataclasses

import pytest

from contract import records
from contract.records import INVENTORY, Event, Heartbeat, Kind

NOW = 1_800_000_000.0


def test_ids_are_unique_time_ordered_uuid7():
    ids = [records.new_id(NOW + i / 1000) for i in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)
    assert all(i[14] == "7" for i in ids)
    assert records.id_time(ids[0]) == pytest.approx(NOW, abs=0.001)


def test_ids_are_checked_one_by_one_even_when_checked_together():
    a, b = records.new_id(1.8e9), records.new_id(1.8e9 + 1)
    assert records.ids_valid([a, b]) and records.ids_valid([])
    assert not records.ids_valid([a[:35], a[35:] + b])  # 35 + 37 characters: joined, they look like two ids
    for bad in (a.upper(), a[:14] + "4" + a[15:], a[:19] + "c" + a[20:], a[:8] + "x" + a[9:]):
        assert not records.ids_valid([a, bad])


def test_time_round_trip_and_timezone_required():
    assert records.parse_time(records.format_time(NOW + 0.123)) == pytest.approx(NOW + 0.123, abs=0.001)
    assert records.parse_time("2026-11-23T12:00:00+01:00") == records.parse_time("2026-11-23T11:00:00Z")
    with pytest.raises(ValueError):
        records.parse_time("2026-11-23T12:00:00")


def test_every_record_field_declares_its_wire_rule():
    for record in (Event, Heartbeat):
        rules = records.rules(record)
        assert [r.name for r in rules] == [f.name for f in dataclasses.fields(record)]
        for rule in rules:
            assert (rule.kind is Kind.TEXT) == (rule.max_len > 0), rule.name
            assert (rule.kind is Kind.CHOICE) == bool(rule.choices), rule.name
            if not rule.required:
                assert rule.nullable or rule.default is not None, f"{rule.name}: absent must mean something"


def test_inventory_holds_the_device_labels_as_texts_and_counts():
    """What the collector keeps on the device row: the labels /metrics groups by, and counters."""
    assert {"os", "os_version", "agent_version", "site", "department", "spool_dropped_total"} <= \
        {r.name for r in INVENTORY}
    assert {r.kind for r in INVENTORY} <= {Kind.TEXT, Kind.COUNT}  # the kinds the device table has columns for


def test_wire_form_formats_times_and_fills_the_id_from_the_time():
    ev = Event(type="crash", app="firefox", start=NOW + 0.25)
    wire = ev.to_wire()
    assert wire["start"] == "2027-01-15T08:00:00.250Z"
    assert records.id_time(wire["id"]) == pytest.approx(NOW + 0.25, abs=0.001)
    hb = Heartbeat(time=NOW, interval_s=60, active_s=30, os="linux", os_version="6.1", agent_version="0.1.0",
                   site="Paris", department="Finance").to_wire()
    assert hb["time"] == "2027-01-15T08:00:00.000Z" and hb["details"] == {} and hb["rejected_total"] == 0
