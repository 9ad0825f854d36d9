"""The compiled fast path accepts exactly what the wire contract accepts, and gives the same normalised batch."""

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.sensors import SENSORS
from collector import fastwire
from collector.columns import of_batch
from contract import check, records
from contract.records import Event, Feedback, Heartbeat, Usage

NOW = 1_800_000_000.0
LIMITS = records.Limits()


def _batch() -> dict:
    ev = Event(type="hang", app="excel", start=NOW - 10, duration_s=5, active_s=2, details={"signal": "SIGSEGV"})
    hb = Heartbeat(time=NOW - 1, interval_s=60, active_s=30, os="linux", os_version="6.1", agent_version="0.1.0",
                   site="Paris", department="Finance", spool_dropped_total=3)
    crash = Event(type="crash", app="firefox", start=NOW)
    answer = Feedback(time=NOW - 5, event_id=crash.id, answer="few_minutes")
    usage = Usage(start=NOW - 3600, interval_s=3600, app="excel", focus_s=1200.5)
    return records.make_batch("device-0001", [ev.to_wire(), crash.to_wire()], [hb.to_wire()], now=NOW,
                              feedback=[answer.to_wire()], usage=[usage.to_wire()])


def _oracle(body: bytes):
    """What the full path makes of a body: the normalised batch, or None when it refuses it."""
    try:
        return of_batch(check.validate_batch(msgspec.json.decode(body), now=NOW, limits=LIMITS))
    except (msgspec.DecodeError, check.ContractError):
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
    lambda b: b["events"][0]["details"].update(big=2**70),  # integers in details: within 64 bits
    lambda b: b["events"][0]["details"].update(ids=list(range(records.MAX_LIST_LEN + 1))),
    lambda b: b["events"][0]["details"].update(names=["x" * (records.MAX_TEXT_LEN + 1)]),
    lambda b: b.update(sent_at=None),
    lambda b: b["heartbeats"][0].update(active_s=500),  # more active than the interval
    lambda b: b["usage"][0].update(interval_s=60, focus_s=30),  # app time per minute: never
    lambda b: b["usage"][0].update(focus_s=3700),  # more focus than the period
    lambda b: b["usage"][0].update(start=records.format_time(NOW - 3600 - 900)),  # not on a multiple of its length
    lambda b: b["usage"][0].update(interval_s=7000, focus_s=30),  # a period that does not divide a day
    lambda b: b["feedback"][0].update(answer="maybe"),
    lambda b: b["feedback"][0].update(event_id="not-an-id"),
    lambda b: b["feedback"][0].update(time=records.format_time(NOW + 3600)),
    lambda b: b["events"][0].update(start=records.format_time(NOW + 3600)),  # from the future
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
def test_both_paths_refuse_what_the_contract_refuses(mutate):
    batch = _batch()
    mutate(batch)
    body = json.dumps(batch).encode()
    assert fastwire.decode(body, NOW, LIMITS) is None
    assert _oracle(body) is None


@pytest.mark.parametrize("name", [name for name, cls in SENSORS.items() if cls.examples()])
def test_every_sensors_example_events_take_the_fast_path(name):
    """What real sensors send (lists in details included) is decoded in C, not left to the full check."""
    events, usage = [], []
    for ev in SENSORS[name].examples():
        if isinstance(ev, Usage):  # app-time totals (the focus sensor): a period that ended a minute ago
            ev.start = (NOW - ev.interval_s) // ev.interval_s * ev.interval_s  # the last period that ended
            usage.append(ev.to_wire())
            continue
        ev.start = NOW - 60 - ev.duration_s  # ended a minute ago, however long it lasted
        events.append(ev.to_wire())
    body = json.dumps(records.make_batch("device-0001", events, [], now=NOW, usage=usage)).encode()
    fast = fastwire.decode(body, NOW, LIMITS)
    assert fast is not None, f"the examples of sensor {name} fall back to the full check"
    assert fast == _oracle(body)


def test_short_lists_in_details_take_the_fast_path():
    batch = _batch()
    batch["events"][0]["details"].update(causes=["dns_failure", "no_route"], top=["a.exe", 1, 2.5, True])
    body = json.dumps(batch).encode()
    assert fastwire.decode(body, NOW, LIMITS) == _oracle(body) is not None


_EDGES = [records.MAX_INT, records.MAX_INT + 1, records.MIN_INT, records.MIN_INT - 1, 2**31, 2**64 - 1, 1e11, 1e15,
          records.MAX_DURATION_S, records.MAX_DURATION_S + 1, "a\x00b", "\x00", "tab\there", "line\n", "esc\x1b[31m",
          "del\x7f", "ok \u00e9\u8868", "\u0085next-line"]
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**65, 2**65), st.floats(allow_nan=False),
                    st.sampled_from(_EDGES), st.text(max_size=600),
                    st.sampled_from(["2027-01-15T08:00:00Z", "2027-01-15 08:00:00+01:00", ""]),
                    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.booleans()), max_size=20),
                    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_EVENT_FIELDS = [*records.EVENT_FIELDS, "extra"]
_HEARTBEAT_FIELDS = [*records.HEARTBEAT_FIELDS, "extra"]
_OTHER_FIELDS = [r.name for record in (Feedback, Usage) for r in records.rules(record)]


@settings(max_examples=500, deadline=None)
@given(where=st.sampled_from(["event", "heartbeat", "batch", "details", "feedback", "usage"]),
       field=st.sampled_from(sorted(set(_EVENT_FIELDS + _HEARTBEAT_FIELDS + _OTHER_FIELDS +
                                        ["schema", "device_id", "sent_at", "excess_s", "k\x00", "k\n"]))),
       value=_VALUES, drop=st.booleans())
def test_fast_and_full_paths_agree_on_any_value(where, field, value, drop):
    batch = _batch()
    record = {"event": batch["events"][0], "heartbeat": batch["heartbeats"][0], "batch": batch,
              "details": batch["events"][0]["details"], "feedback": batch["feedback"][0],
              "usage": batch["usage"][0]}[where]
    if drop:
        record.pop(field, None)
    else:
        record[field] = value
    body = json.dumps(batch).encode()
    assert fastwire.decode(body, NOW, LIMITS) == _oracle(body)  # the same batch, or None from both


_OFFSETS = st.one_of(st.sampled_from([0.0, 300.0, 601.0, -601.0, 3600.0, -7200.0, 10 * 86400.0, -34 * 86400.0,
                                      -36 * 86400.0, 36 * 86400.0, -(NOW - 946684800.0), -(NOW + 62135596800.0),
                                      253402300799.0 - NOW]),
                     st.floats(-40 * 86400.0, 40 * 86400.0))


@settings(max_examples=300, deadline=None)
@given(sent=st.one_of(st.none(), _OFFSETS), event_at=_OFFSETS, beat_at=_OFFSETS, duration=st.floats(0, 7200))
def test_fast_and_full_paths_agree_on_any_clock(sent, event_at, beat_at, duration):
    """A skewed batch is corrected, refused or taken as it is alike on both paths (issue 12: they disagreed)."""
    batch = _batch()
    for key, offset, record in (("start", event_at, batch["events"][0]), ("time", beat_at, batch["heartbeats"][0])):
        record[key] = records.format_time(min(max(NOW + offset, -62135596800.0), 253402300799.0))
    batch["events"][0]["duration_s"] = duration
    batch["events"][0]["active_s"] = 0.0
    if sent is None:
        del batch["sent_at"]
    else:
        batch["sent_at"] = records.format_time(min(max(NOW + sent, -62135596800.0), 253402300799.0))
    body = json.dumps(batch).encode()
    fast = fastwire.decode(body, NOW, LIMITS)
    assert fast == _oracle(body)
    if fast is not None:  # what is accepted is on the collector's clock, within its window
        lo, hi = records.time_window(NOW, LIMITS)
        assert all(lo <= t <= hi for t in [*fast["events"]["start"], fast["heartbeats"][0]["time"]])


def test_a_batch_with_an_absurd_sent_at_is_taken_as_it_is_on_both_paths():
    batch = _batch()
    batch["sent_at"] = "0001-01-01T00:00:00Z"
    body = json.dumps(batch).encode()
    fast = fastwire.decode(body, NOW, LIMITS)
    assert fast == _oracle(body) and fast["clock_correction_s"] == 0.0
    assert fast["heartbeats"][0]["time"] == pytest.approx(NOW - 1, abs=0.001)


@pytest.mark.parametrize("excess", [1e11, 1e15, 2**64 - 1, -1, 10.0 + 1.5])
def test_an_excess_beyond_the_event_is_refused_by_both_paths(excess):
    batch = _batch()
    batch["events"][0].update(type="slow_app", duration_s=10.0)
    batch["events"][0]["details"]["excess_s"] = excess
    body = json.dumps(batch).encode()
    assert fastwire.decode(body, NOW, LIMITS) is None and _oracle(body) is None
    batch["events"][0]["details"]["excess_s"] = 10.5  # within the event, rounding allowed
    body = json.dumps(batch).encode()
    assert fastwire.decode(body, NOW, LIMITS) == _oracle(body) is not None


@pytest.mark.parametrize("text, ok", [
    ("C:\\new\\table", True),  # a backslash, then n or t: no control character
    ("\\\\n", True), ("x\\", True), ("\\u0000 spelled out", True), ("caf\u00e9 \u8868", True),
    ("line\n", False), ("\\\n", False), ("nul\x00", False), ("tab\t", False), ("esc\x1b", False), ("del\x7f", False),
    ("\x1f", False),
])
@pytest.mark.parametrize("ascii_only", [True, False])
def test_both_paths_read_backslashes_and_control_characters_alike(text, ok, ascii_only):
    for place in ("app", "detail", "key", "site"):
        batch = _batch()
        if place == "app":
            batch["events"][0]["app"] = text
        elif place == "detail":
            batch["events"][0]["details"]["path"] = text
        elif place == "key":
            batch["events"][0]["details"][text] = 1
        else:
            batch["heartbeats"][0]["site"] = text
        body = json.dumps(batch, ensure_ascii=ascii_only).encode()
        fast = fastwire.decode(body, NOW, LIMITS)
        assert fast == _oracle(body)
        assert (fast is not None) == ok, (place, text)
