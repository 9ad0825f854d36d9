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


# ------------------------------------------------------------ issue 12: every value bounded, clocks


@pytest.mark.parametrize("where", ["app", "detail value", "detail key", "detail list", "site"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\n", "\x7f"])
def test_control_characters_are_refused_in_every_string(where, char):
    ev, hb = Event(type="crash", app="firefox", start=NOW - 5), _hb()
    if where == "app":
        ev.app = f"fire{char}fox"
    elif where == "detail value":
        ev.details = {"exe": f"a{char}b"}
    elif where == "detail key":
        ev.details = {f"k{char}": 1}
    elif where == "detail list":
        ev.details = {"top": ["ok", f"a{char}"]}
    else:
        hb.site = f"Pa{char}ris"
    with pytest.raises(ContractError) as exc:
        validate_batch(_batch([ev], [hb]), now=NOW)
    assert "control characters" in str(exc.value) or where == "detail list"
    # printable text, accents and other scripts included, is fine
    validate_batch(_batch([Event(type="crash", app="Ünïcode 表 app", start=NOW - 5, details={"k é": "v ✓"})]), now=NOW)


@pytest.mark.parametrize("excess, ok", [(0, True), (10, True), (11, True), (11.5, False), (-1, False), (1e11, False),
                                        (1e15, False), (2**64 - 1, False), (True, False), ("12", False), (None, True)])
def test_excess_s_is_seconds_within_the_event(excess, ok):
    ev = Event(type="slow_app", app="erp", start=NOW - 60, duration_s=10.0, details={"excess_s": excess})
    if ok:
        assert validate_batch(_batch([ev]), now=NOW)["events"][0]["details"]["excess_s"] == excess
    else:
        with pytest.raises(ContractError) as exc:
            validate_batch(_batch([ev]), now=NOW)
        assert exc.value.errors[0]["field"] == "details.excess_s"


def test_an_event_has_ended_when_it_is_sent():
    ev = Event(type="hang", app="erp", start=NOW - 60, duration_s=3600.0)
    with pytest.raises(ContractError, match="duration_s: the event would end"):
        validate_batch(_batch([ev]), now=NOW)
    ev.duration_s = 60.0 + records.Limits().max_future_s
    validate_batch(_batch([ev]), now=NOW)


def test_counts_are_64_bit():
    validate_batch(_batch([], [_hb(spool_dropped_total=records.MAX_COUNT)]), now=NOW)
    with pytest.raises(ContractError, match="spool_dropped_total"):
        validate_batch(_batch([], [_hb(spool_dropped_total=records.MAX_COUNT + 1)]), now=NOW)


def test_a_refusal_lists_the_first_problems_and_counts_them_all_without_unbounded_work():
    ev = Event(type="crash", app="firefox", start=NOW - 5).to_wire()
    ev.update({f"u{i:06d}": 0 for i in range(400_000)})
    t0 = time.perf_counter()
    with pytest.raises(ContractError) as exc:
        validate_batch(_batch([ev, ev]), now=NOW)
    assert time.perf_counter() - t0 < 5
    err = exc.value
    assert len(err.errors) == records.MAX_ERRORS and err.total == 800_000
    assert [e["field"] for e in err.errors[:3]] == ["u000000", "u000001", "u000002"]  # the first ones, in order
    assert "(+799999 more)" in str(err)


DAY = 86400.0


@pytest.mark.parametrize("sent_skew, record_skew, correction", [
    (0.0, 0.0, 0.0),
    (300.0, 300.0, 0.0),  # within max_future_s: nothing moves
    (3600.0, 3600.0, 3600.0),  # a device an hour ahead: moved
    (-10 * DAY, -10 * DAY, -10 * DAY),  # ten days behind: moved
    (-(NOW - 946684800.0), 0.0, 0.0),  # RTC reset to 2000-01-01, records stamped right: not moved
    (-(NOW + 62135596800.0), 0.0, 0.0),  # sent_at = 0001-01-01, records stamped now: not moved
    (-(NOW + 62135596800.0), -(NOW + 62135596800.0), 0.0),  # both in year 1: implausible, not moved (then refused)
    (40 * DAY, 40 * DAY, 0.0),  # beyond max_skew_s
    (-10 * DAY, 0.0, 0.0),  # sent_at ten days behind, records on the collector's clock: inconsistent, not moved
    (3600.0, 0.0, 3600.0),  # records that fit both clocks are taken to be on sent_at's
])
def test_clock_correction_only_when_plausible_and_consistent(sent_skew, record_skew, correction):
    limits = records.Limits()
    times = [NOW + record_skew - 60, NOW + record_skew - 5 * DAY]
    assert records.clock_correction(NOW + sent_skew, times, NOW, limits) == correction


def test_a_batch_is_checked_and_given_on_the_collectors_clock():
    year_one = "0001-01-01T00:00:00Z"
    honest = _batch([Event(type="crash", app="firefox", start=NOW - 5)], [_hb(time=NOW - 1)], sent_at=year_one)
    out = validate_batch(honest, now=NOW)
    assert out["clock_correction_s"] == 0.0 and out["events"][0]["start"] == pytest.approx(NOW - 5, abs=0.001)
    forged = _batch([{**Event(type="crash", app="firefox", start=NOW).to_wire(), "start": "0001-01-01T00:00:05Z"}],
                    sent_at=year_one)
    with pytest.raises(ContractError, match="start: older than"):
        validate_batch(forged, now=NOW)
    ahead = _batch([Event(type="crash", app="firefox", start=NOW + 3595)], sent_at=records.format_time(NOW + 3600))
    out = validate_batch(ahead, now=NOW)
    assert out["clock_correction_s"] == pytest.approx(3600) and out["events"][0]["start"] == pytest.approx(NOW - 5, abs=0.01)
