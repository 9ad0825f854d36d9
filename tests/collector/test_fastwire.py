"""The compiled fast path accepts only what the wire contract accepts, and gives the same normalised batch."""

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import wire
from agent.wire import Event, Heartbeat
from collector import fastwire
from collector.columns import of_batch

NOW = 1_800_000_000.0
LIMITS = wire.Limits()


def _batch() -> dict:
    ev = Event(type="hang", app="excel", start=NOW - 10, duration_s=5, active_s=2, details={"signal": "SIGSEGV"})
    hb = Heartbeat(time=NOW - 1, interval_s=60, active_s=30, os="linux", os_version="6.1", agent_version="0.1.0",
                   site="Paris", department="Finance", spool_dropped_total=3)
    return wire.make_batch("device-0001", [ev.to_wire(), Event(type="crash", app="firefox", start=NOW).to_wire()],
                           [hb.to_wire()], now=NOW)


def _oracle(body: bytes):
    """What the full path makes of a body: the normalised batch, or None when it refuses it."""
    try:
        return of_batch(wire.validate_batch(orjson.loads(body), now=NOW, limits=LIMITS))
    except (ValueError, wire.ContractError):  # orjson.JSONDecodeError is a ValueError
        return None


def test_a_plain_agent_batch_takes_the_fast_path_with_the_same_result():
    body = json.dumps(_batch()).encode()
    fast = fastwire.decode(body, NOW, LIMITS)
    assert fast is not None
    assert fast == _oracle(body)
    assert fast["events"]["details"][1] == {} and fast["events"]["active_s"][1] is None  # defaults filled in


@pytest.mark.parametrize("mutate", [
    lambda b: b["events"][0].update(start="2026-11-23 12:00:00Z"),  # RFC 3339 allows it; the contract does not
    lambda b: b["events"][0].update(start="2027-01-15t08:00:00z"),
    lambda b: b["events"][0]["details"].update(big=2**70),  # orjson, the full path's parser, refuses it
    lambda b: b["events"][0]["details"].update(ids=[1, 2, 3]),  # short lists: valid, but only the full path knows
    lambda b: b.update(sent_at=None),
    lambda b: b["heartbeats"][0].update(active_s=500),  # more active than the interval
    lambda b: b["events"][0].update(start=wire.format_time(NOW + 3600)),  # from the future
    lambda b: b.update(events=[b["events"][0]] * (LIMITS.max_events + 1)),
    # ids: upper case, version 4, variant c, a misplaced hyphen, not hex, on an event or a heartbeat
    lambda b: b["events"][1].update(id=b["events"][1]["id"].upper()),
    lambda b: b["events"][0].update(id=b["events"][0]["id"][:14] + "4" + b["events"][0]["id"][15:]),
    lambda b: b["events"][1].update(id=b["events"][1]["id"][:19] + "c" + b["events"][1]["id"][20:]),
    lambda b: b["events"][0].update(id=b["events"][0]["id"][:7] + "-" + b["events"][0]["id"][7] + b["events"][0]["id"][9:]),
    lambda b: b["heartbeats"][0].update(id="0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f0g0h"),
    # two ids of 35 and 37 characters whose concatenation looks like two valid ones
    lambda b: (b["events"][1].update(id=b["events"][0]["id"][35:] + b["events"][1]["id"]),
               b["events"][0].update(id=b["events"][0]["id"][:35])),
])
def test_what_the_fast_path_leaves_to_the_full_checks(mutate):
    batch = _batch()
    mutate(batch)
    body = json.dumps(batch).encode()
    assert fastwire.decode(body, NOW, LIMITS) is None


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**65, 2**65), st.floats(allow_nan=False),
                    st.text(max_size=600), st.sampled_from(["2027-01-15T08:00:00Z", "2027-01-15 08:00:00+01:00", ""]),
                    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.booleans()), max_size=20),
                    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_EVENT_FIELDS = ["id", "type", "app", "start", "duration_s", "severity", "active_s", "details", "extra"]
_HEARTBEAT_FIELDS = ["id", "time", "interval_s", "active_s", "os", "site", "rejected_total", "details", "extra"]


@settings(max_examples=500, deadline=None)
@given(where=st.sampled_from(["event", "heartbeat", "batch", "details"]),
       field=st.sampled_from(sorted(set(_EVENT_FIELDS + _HEARTBEAT_FIELDS + ["schema", "device_id", "sent_at"]))),
       value=_VALUES, drop=st.booleans())
def test_fast_path_never_accepts_what_the_full_path_refuses(where, field, value, drop):
    batch = _batch()
    record = {"event": batch["events"][0], "heartbeat": batch["heartbeats"][0], "batch": batch,
              "details": batch["events"][0]["details"]}[where]
    if drop:
        record.pop(field, None)
    else:
        record[field] = value
    body = json.dumps(batch).encode()
    fast = fastwire.decode(body, NOW, LIMITS)
    if fast is not None:
        assert fast == _oracle(body)
