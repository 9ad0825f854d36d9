"""The full check of a batch against the contract: every problem named, the work per record bounded.

The agent runs it on each record before spooling it; the collector runs it on
any body its compiled fast path (``collector/fastwire.py``) did not take, so
that a refusal names each field at fault. Both follow the field rules of
:mod:`contract.records`, and the clock rule of
:func:`contract.records.clock_correction`.

A refusal lists at most :data:`~contract.records.MAX_ERRORS` problems, the
first ones in the batch's order, and counts them all (``ContractError.total``);
the check's own work on one record is bounded by the record's declared fields,
whatever the record holds (a record with 400,000 unknown fields names the first
few and counts the rest).
"""

from __future__ import annotations

import copy
import heapq
import math
import time
from typing import Any

from contract.records import (
    BATCH_FIELDS, CONTROL_ERROR, DEVICE_ID_ERROR, MAX_COUNT, MAX_DETAILS, MAX_DURATION_S, MAX_ERRORS, MAX_INT,
    MAX_KEY_LEN, MAX_LIST_LEN, MAX_TEXT_LEN, MIN_INT, SCHEMA_VERSION, SECTION_OF_RECORD, SECTIONS, TIME_ERROR, Event, Kind, Limits, Rule,
    clock_correction, device_id_valid, has_control, ids_valid, parse_time, realign, relation_problem, rules, seconds_valid,
    time_window,
)


class ContractError(ValueError):
    """A batch violates the contract; ``errors`` lists the first problems found (at most MAX_ERRORS), ``total``
    counts them all."""

    def __init__(self, errors: list[dict[str, Any]], total: int | None = None):
        self.errors = errors[:MAX_ERRORS]
        self.total = len(errors) if total is None else total
        first = errors[0]
        where = f"{first['kind']}[{first['index']}]." if first.get("index") is not None else ""
        super().__init__(f"{where}{first['field']}: {first['error']}" + (f" (+{self.total - 1} more)" if self.total > 1 else ""))


class _Errors(list):
    """The problems found so far: the first MAX_ERRORS kept, all of them counted."""

    total = 0

    def add(self, kind: str, index: int | None, fld: str, msg: str) -> None:
        self.total += 1
        if len(self) < MAX_ERRORS:
            self.append({"kind": kind, "index": index, "field": fld, "error": msg})

    def fail(self) -> ContractError:
        return ContractError(list(self), self.total)




_ABSENT = object()


def validate_batch(batch: Any, now: float | None = None, limits: Limits = Limits()) -> dict:
    """Check a decoded batch against the contract and return it normalised.

    Times are turned into Unix seconds on the checking clock ``now`` (the
    collector's): moved by the device's skew when
    :func:`~contract.records.clock_correction` says so, then checked against
    :func:`~contract.records.time_window` of ``now``. Optional fields get their
    defaults. The result also gives ``sent_at`` as sent and the correction
    applied (``clock_correction_s``). Raises ContractError listing the
    problems; a batch is accepted whole or not at all.
    """
    now = time.time() if now is None else now
    errors = _Errors()
    if not isinstance(batch, dict):
        errors.add("batch", None, "body", "must be a JSON object")
        raise errors.fail()
    _unknown(errors, "batch", None, batch, BATCH_FIELDS)
    schema = batch.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:
        errors.add("batch", None, "schema", f"must be {SCHEMA_VERSION}, got {_short(schema)}")
    dev = batch.get("device_id")
    if not device_id_valid(dev):
        errors.add("batch", None, "device_id", DEVICE_ID_ERROR)
    sent_at = None
    if "sent_at" in batch:
        try:
            sent_at = parse_time(batch["sent_at"])
        except ValueError as exc:
            errors.add("batch", None, "sent_at", str(exc))
    sections = {sec: batch.get(sec.field, []) for sec in SECTIONS}
    for sec, value in sections.items():
        cap = getattr(limits, sec.limit)
        if not isinstance(value, list):
            errors.add("batch", None, sec.field, "must be a list")
        elif len(value) > cap:
            errors.add("batch", None, sec.field, f"{len(value)} records, more than the limit of {cap} per batch")
    if errors.total:
        raise errors.fail()
    correction = clock_correction(sent_at, [t for sec, recs in sections.items() for t in _times(recs, sec.record)],
                                  now, limits)
    clock = _Clock(now, correction, limits)
    out = {sec.field: [r for i, rec in enumerate(recs) if (r := _check_record(errors, sec.kind, sec.record, i, rec, clock))]
           for sec, recs in sections.items()}
    if errors.total:
        raise errors.fail()
    return {"device_id": dev, "sent_at": sent_at, "clock_correction_s": correction, **out}


class _Clock:
    """How record times are read: moved by ``correction``, then within the window of ``now``."""

    __slots__ = ("now", "correction", "lo", "hi")

    def __init__(self, now: float, correction: float, limits: Limits):
        self.now, self.correction = now, correction
        self.lo, self.hi = time_window(now, limits)


def _times(recs: list, record: type) -> list[float]:
    """The times of the records that have one the contract reads (the others are refused anyway)."""
    name = SECTION_OF_RECORD[record].time_field
    out = []
    for rec in recs:
        if isinstance(rec, dict) and isinstance(rec.get(name), str):
            try:
                out.append(parse_time(rec[name]))
            except ValueError:
                pass
    return out




def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(errors: _Errors, kind: str, index: int | None, rec: dict, known) -> None:
    """Name the record's unknown fields: the first ones in order, as many as the error list still holds."""
    unknown = set(rec).difference(known)
    if not unknown:
        return
    named = heapq.nsmallest(max(0, MAX_ERRORS - len(errors)), unknown)  # not a sort of them all
    for k in named:
        errors.add(kind, index, k if not has_control(k) and len(k) <= MAX_KEY_LEN else _short(k), "unknown field")
    errors.total += len(unknown) - len(named)


def _check_record(errors: _Errors, kind: str, record: type, i: int, rec: Any, clock: _Clock) -> dict | None:
    """Every rule for one record: add each problem to ``errors``; the normalised record if there was none."""
    if not isinstance(rec, dict):
        errors.add(kind, i, "record", "must be an object")
        return None
    n_before = errors.total
    field_rules = rules(record)
    _unknown(errors, kind, i, rec, [r.name for r in field_rules])
    out = {}
    for rule in field_rules:
        value = rec.get(rule.name, _ABSENT)
        if value is _ABSENT and not rule.required:
            out[rule.name] = copy.copy(rule.default)  # a fresh {} for each record's details
        elif value is None and rule.nullable:
            out[rule.name] = None
        else:
            problem, out[rule.name] = _check_value(rule, value, clock)
            if problem:
                errors.add(kind, i, *problem)
    if errors.total > n_before:
        return None
    if record is Event and out["start"] + out["duration_s"] > clock.hi:
        errors.add(kind, i, "duration_s", f"the event would end {out['start'] + out['duration_s'] - clock.now:.0f} s "
                                          "in the future: an event is sent once it has ended")
        return None
    problem = relation_problem(record, out, clock.correction)
    if problem:
        errors.add(kind, i, *problem)
        return None
    realign(record, out)
    return out


def _check_value(rule: Rule, v: Any, clock: _Clock) -> tuple[tuple[str, str] | None, Any]:
    """(field, problem) or None, and the normalised value of one field."""
    name, kind = rule.name, rule.kind
    if kind is Kind.ID:
        ok = isinstance(v, str) and ids_valid([v])
        return (None if ok else (name, "must be a lowercase UUIDv7 string")), v
    if v is _ABSENT or v is None:
        return (name, "missing"), None
    if kind is Kind.TIME:
        try:
            ts = parse_time(v) - clock.correction
        except ValueError:
            return (name, TIME_ERROR), None
        if ts > clock.hi:
            return (name, f"{ts - clock.now:.0f} s in the future (limit {clock.hi - clock.now:.0f} s); is the device "
                          "clock wrong?"), None
        if ts < clock.lo:
            return (name, f"older than {(clock.now - clock.lo) / 86400:.0f} days"), None
        return None, ts
    if kind is Kind.TEXT:
        if not isinstance(v, str):
            return (name, f"must be a string, got {type(v).__name__}"), None
        if not v:
            return (name, "must not be empty"), None
        if len(v) > rule.max_len:
            return (name, f"longer than {rule.max_len} characters"), None
        if has_control(v):
            return (name, CONTROL_ERROR), None
        return None, v
    if kind is Kind.CHOICE:
        if not isinstance(v, str) or v not in rule.choices:
            return (name, f"unknown {name} {_short(v)}; expected one of {', '.join(rule.choices)}"), None
        return None, v
    if kind is Kind.SECONDS:
        if not seconds_valid(v):
            return (name, f"must be a finite number from 0 to {MAX_DURATION_S:.0f}"), None
        return None, float(v)
    if kind is Kind.COUNT:
        if type(v) is not int or not 0 <= v <= MAX_COUNT:
            return (name, f"must be an integer from 0 to {MAX_COUNT}"), None
        return None, v
    return _check_details(name, v)


def _scalar(v: Any, max_len: int) -> bool:
    """A detail value the contract allows: printable text, a finite number, a 64-bit integer, a boolean."""
    if isinstance(v, str):
        return len(v) <= max_len and not has_control(v)
    if type(v) is int:
        return MIN_INT <= v <= MAX_INT
    return isinstance(v, bool) or (type(v) is float and math.isfinite(v))


def _check_details(name: str, d: Any) -> tuple[tuple[str, str] | None, Any]:
    if not isinstance(d, dict):
        return (name, "must be an object"), None
    if len(d) > MAX_DETAILS:
        return (name, f"more than {MAX_DETAILS} keys"), None
    for k, v in d.items():
        if len(k) > MAX_KEY_LEN:
            return (name, f"key longer than {MAX_KEY_LEN} characters"), None
        if has_control(k):
            return (name, f"key {_short(k)} {CONTROL_ERROR}"), None
        if isinstance(v, str) and len(v) > MAX_TEXT_LEN:
            return (f"{name}.{k}", f"longer than {MAX_TEXT_LEN} characters"), None
        if isinstance(v, str) and has_control(v):
            return (f"{name}.{k}", CONTROL_ERROR), None
        if v is None or _scalar(v, MAX_TEXT_LEN):
            continue
        if isinstance(v, list) and len(v) <= MAX_LIST_LEN and all(_scalar(x, MAX_TEXT_LEN) for x in v):
            continue
        return (f"{name}.{k}", "must be a string, number, boolean, null or a short list of them"), None
    return None, d
