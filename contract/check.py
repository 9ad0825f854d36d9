"""The full check of a batch against the contract: every problem named, none missed.

The agent runs it on each record before spooling it; the collector runs it on
any body its compiled fast path (``collector/fastwire.py``) did not take, so
that a refusal names each field at fault. Both follow the field rules of
:mod:`contract.records`.
"""

from __future__ import annotations

import copy
import math
import re
import time
from typing import Any

from contract.records import (
    BATCH_FIELDS, DEVICE_ID_PATTERN, MAX_COUNT, MAX_DETAILS, MAX_DURATION_S, MAX_INT, MAX_KEY_LEN, MAX_LIST_LEN,
    MAX_TEXT_LEN, MIN_INT, SCHEMA_VERSION, TIME_ERROR, Event, Heartbeat, Kind, Limits, Rule, active_within_interval,
    ids_valid, parse_time, rules,
)


class ContractError(ValueError):
    """A batch violates the contract; ``errors`` lists every problem found."""

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        first = errors[0]
        where = f"{first['kind']}[{first['index']}]." if first.get("index") is not None else ""
        super().__init__(f"{where}{first['field']}: {first['error']}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))


_DEVICE_RE = re.compile(DEVICE_ID_PATTERN)
_ABSENT = object()


def validate_batch(batch: Any, now: float | None = None, limits: Limits = Limits()) -> dict:
    """Check a decoded batch against the contract and return it normalised.

    Times are turned into Unix seconds (``start``/``time`` keys keep the float)
    and optional fields get their defaults. Raises ContractError listing every
    problem; a batch is accepted whole or not at all.
    """
    now = time.time() if now is None else now
    errors: list[dict[str, Any]] = []
    if not isinstance(batch, dict):
        raise ContractError([{"kind": "batch", "index": None, "field": "body", "error": "must be a JSON object"}])
    for k in sorted(set(batch).difference(BATCH_FIELDS)):
        _err(errors, "batch", None, k, "unknown field")
    schema = batch.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:
        _err(errors, "batch", None, "schema", f"must be {SCHEMA_VERSION}, got {schema!r}")
    dev = batch.get("device_id")
    if not isinstance(dev, str) or not _DEVICE_RE.match(dev):
        _err(errors, "batch", None, "device_id", "must be 8-64 characters of letters, digits, '.', '_', ':' or '-'")
    sent_at = None
    if "sent_at" in batch:
        try:
            sent_at = parse_time(batch["sent_at"])
        except ValueError as exc:
            _err(errors, "batch", None, "sent_at", str(exc))
    events = batch.get("events", [])
    heartbeats = batch.get("heartbeats", [])
    for name, value, cap in (("events", events, limits.max_events), ("heartbeats", heartbeats, limits.max_heartbeats)):
        if not isinstance(value, list):
            _err(errors, "batch", None, name, "must be a list")
        elif len(value) > cap:
            _err(errors, "batch", None, name, f"{len(value)} records, more than the limit of {cap} per batch")
    if errors:
        raise ContractError(errors)
    out_events = [r for i, ev in enumerate(events) if (r := _check_record(errors, "event", Event, i, ev, now, limits))]
    out_hbs = [r for i, hb in enumerate(heartbeats)
               if (r := _check_record(errors, "heartbeat", Heartbeat, i, hb, now, limits))]
    if errors:
        raise ContractError(errors)
    return {"device_id": dev, "sent_at": sent_at, "events": out_events, "heartbeats": out_hbs}


def _err(errors: list, kind: str, index: int | None, fld: str, msg: str) -> None:
    errors.append({"kind": kind, "index": index, "field": fld, "error": msg})


def _check_record(errors: list, kind: str, record: type, i: int, rec: Any, now: float, limits: Limits) -> dict | None:
    """Every rule for one record: append each problem to ``errors``; the normalised record if there was none."""
    if not isinstance(rec, dict):
        _err(errors, kind, i, "record", "must be an object")
        return None
    n_before = len(errors)
    field_rules = rules(record)
    for k in sorted(set(rec).difference(r.name for r in field_rules)):
        _err(errors, kind, i, k, "unknown field")
    out = {}
    for rule in field_rules:
        value = rec.get(rule.name, _ABSENT)
        if value is _ABSENT and not rule.required:
            out[rule.name] = copy.copy(rule.default)  # a fresh {} for each record's details
        elif value is None and rule.nullable:
            out[rule.name] = None
        else:
            problem, out[rule.name] = _check_value(rule, value, now, limits)
            if problem:
                _err(errors, kind, i, *problem)
    if len(errors) > n_before:
        return None
    if record is Heartbeat and not active_within_interval(out["active_s"], out["interval_s"]):
        _err(errors, kind, i, "active_s", "larger than interval_s")
        return None
    return out


def _check_value(rule: Rule, v: Any, now: float, limits: Limits) -> tuple[tuple[str, str] | None, Any]:
    """(field, problem) or None, and the normalised value of one field."""
    name, kind = rule.name, rule.kind
    if kind is Kind.ID:
        ok = isinstance(v, str) and ids_valid([v])
        return (None if ok else (name, "must be a lowercase UUIDv7 string")), v
    if v is _ABSENT or v is None:
        return (name, "missing"), None
    if kind is Kind.TIME:
        try:
            ts = parse_time(v)
        except ValueError:
            return (name, TIME_ERROR), None
        if ts > now + limits.max_future_s:
            return (name, f"{ts - now:.0f} s in the future (limit {limits.max_future_s:.0f} s); is the device clock "
                          "wrong?"), None
        if ts < now - limits.max_age_s:
            return (name, f"older than {limits.max_age_s / 86400:.0f} days"), None
        return None, ts
    if kind is Kind.TEXT:
        if not isinstance(v, str):
            return (name, f"must be a string, got {type(v).__name__}"), None
        if not v:
            return (name, "must not be empty"), None
        if len(v) > rule.max_len:
            return (name, f"longer than {rule.max_len} characters"), None
        return None, v
    if kind is Kind.CHOICE:
        if not isinstance(v, str) or v not in rule.choices:
            return (name, f"unknown {name} {v!r}; expected one of {', '.join(rule.choices)}"), None
        return None, v
    if kind is Kind.SECONDS:
        if not _number(v):
            return (name, "must be a finite number"), None
        if not 0 <= v <= MAX_DURATION_S:
            return (name, f"must be between 0 and {MAX_DURATION_S:.0f}"), None
        return None, float(v)
    if kind is Kind.COUNT:
        if type(v) is not int or not 0 <= v <= MAX_COUNT:
            return (name, f"must be an integer from 0 to {MAX_COUNT}"), None
        return None, v
    return _check_details(name, v)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(v: Any, max_len: int) -> bool:
    """A detail value the contract allows: text, a finite number, a 64-bit integer, a boolean."""
    if isinstance(v, str):
        return len(v) <= max_len
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
        if isinstance(v, str) and len(v) > MAX_TEXT_LEN:
            return (f"{name}.{k}", f"longer than {MAX_TEXT_LEN} characters"), None
        if v is None or _scalar(v, MAX_TEXT_LEN):
            continue
        if isinstance(v, list) and len(v) <= MAX_LIST_LEN and all(_scalar(x, MAX_TEXT_LEN) for x in v):
            continue
        return (f"{name}.{k}", "must be a string, number, boolean, null or a short list of them"), None
    return None, d
