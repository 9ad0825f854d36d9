"""The full check: every validation rule the collector relies on, each problem named."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import records
from contract.check import ContractError, validate_batch
from contract.records import Event, Heartbeat

NOW = 1_800_000_000.0


def _batch(events=(), heartbeats=(), **over):
    b = records.make_batch("device-0001", [e if isinstance(e, dict) else e.to_wire() for e in events],
                        [h.to_wire() for h in heartbeats], now=NOW)
    b.update(over)
    return b


def _hb(**kw):
    base = dict(time=NOW, interval_s=60, active_s=30, os="linux", os_version="6.1", agent_version="0.1.0",
                site="Paris", department="Finance")
    base.update(kw)
    return Heartbeat(**base)


def test_valid_batch_is_normalised():
    ev = Event(type="crash", app="firefox", start=NOW - 5, details={"signal": "SIGSEGV", "core_dumped": True})
    out = validate_batch(_batch([ev], [_hb()]), now=NOW)
    assert out["device_id"] == "device-0001"
    assert out["events"][0]["start"] == pytest.approx(NOW - 5, abs=0.001)
    assert out["events"][0]["details"]["signal"] == "SIGSEGV"
    assert out["heartbeats"][0]["active_s"] == 30.0


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda e: e.update(type="explosion"), "type"),
        (lambda e: e.pop("app"), "app"),
        (lambda e: e.update(app=7), "app"),
        (lambda e: e.update(start="yesterday"), "start"),
        (lambda e: e.update(start=records.format_time(NOW + 7200)), "start"),
        (lambda e: e.update(start=records.format_time(NOW - 90 * 86400)), "start"),
        (lambda e: e.update(duration_s=-1), "duration_s"),
        (lambda e: e.update(duration_s=float("nan")), "duration_s"),
        (lambda e: e.update(id="not-an-id"), "id"),
        (lambda e: e.update(severity="apocalyptic"), "severity"),
        (lambda e: e.update(details={f"k{i}": i for i in range(40)}), "details"),
        (lambda e: e.update(details={"nested": {"a": 1}}), "details.nested"),
        (lambda e: e.update(details={"t": "x" * 1000}), "details.t"),
        (lambda e: e.update(colour="red"), "colour"),
    ],
)
def test_each_bad_event_field_is_named(mutate, field):
    ev = Event(type="hang", app="excel", start=NOW - 10, duration_s=5).to_wire()
    mutate(ev)
    with pytest.raises(ContractError) as exc:
        validate_batch(_batch([ev]), now=NOW)
    err = exc.value.errors[0]
    assert (err["kind"], err["index"], err["field"]) == ("event", 0, field)


def test_envelope_errors():
    with pytest.raises(ContractError, match="schema"):
        validate_batch(_batch(schema=2), now=NOW)
    with pytest.raises(ContractError, match="device_id"):
        validate_batch(_batch(device_id="x"), now=NOW)
    with pytest.raises(ContractError, match="limit of 2"):
        validate_batch(_batch([Event(type="test", app="t", start=NOW)] * 3), now=NOW, limits=records.Limits(max_events=2))
    with pytest.raises(ContractError, match="JSON object"):
        validate_batch([1, 2], now=NOW)


def test_heartbeat_checks():
    with pytest.raises(ContractError, match="active_s"):
        validate_batch(_batch(heartbeats=[_hb(active_s=100, interval_s=60)]), now=NOW)
    with pytest.raises(ContractError, match="site"):
        validate_batch(_batch(heartbeats=[_hb(site="")]), now=NOW)


def test_all_errors_are_reported_with_indices():
    good = Event(type="test", app="t", start=NOW).to_wire()
    bad = dict(good, id=records.new_id(NOW), type="nope")
    with pytest.raises(ContractError) as exc:
        validate_batch(_batch([good, bad, dict(bad, id=records.new_id(NOW))]), now=NOW)
    assert [(e["kind"], e["index"], e["field"]) for e in exc.value.errors] == [("event", 1, "type"), ("event", 2, "type")]


def test_defaults_use_real_clock():
    ev = Event(type="test", app="t", start=time.time())
    assert validate_batch(records.make_batch("device-0001", [ev.to_wire()], []))["events"]


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=600), st.lists(st.integers(), max_size=20), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(["id", "type", "app", "start", "duration_s", "severity", "active_s", "details", "extra"]),
       value=_VALUES, details=st.dictionaries(st.text(max_size=70), _VALUES, max_size=34))
def test_any_value_is_accepted_or_named_never_a_crash(field, value, details):
    """The contract's checks take whatever JSON can hold: a batch is accepted or refused with its problems
    listed, never an exception of another kind (a list as ``type`` once raised TypeError)."""
    ev = Event(type="hang", app="excel", start=NOW - 10, duration_s=5, active_s=2, details={}).to_wire()
    ev["details"] = details
    ev[field] = value
    try:
        validate_batch(_batch([ev]), now=NOW)
    except ContractError as exc:
        assert exc.errors and all(e["kind"] == "event" and e["index"] == 0 for e in exc.errors)
