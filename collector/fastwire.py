"""The wire contract's fast path: decode and check a batch body in one compiled pass.

:func:`contract.check.validate_batch` names every problem it finds, but in
Python it costs more than storing the rows. Here the same rules are msgspec
types, derived field by field from the contract's declarations
(:func:`contract.records.rules`), so that a valid body is decoded and checked
in C. :func:`decode` returns exactly what the full check gives
(``columns.of_batch(validate_batch(msgspec.json.decode(body)))``; the same parser), or None when the
body is not valid; the caller then runs the full check, which explains the
refusal. The contract's rules that are not types (control characters, found
by one scan of the body; the times' window after the clock rule of
:func:`contract.records.clock_correction`; active within interval; the event
details the collector reads) are checked here on whole columns, in C where it
matters. The fast path accepts every batch the contract accepts; a property test
(tests/collector/test_fastwire.py) keeps the two in step both ways, and runs
every sensor's example events through here.
"""

from __future__ import annotations

import re
from functools import cache
from operator import add
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta
from msgspec.structs import asdict, astuple

from collector.columns import Columns
from contract.records import (
    DEVICE_ID_PATTERN, DEVICE_ID_SCHEMA_PATTERN, ID_PATTERN, MAX_COUNT, MAX_DETAILS, MAX_DURATION_S, MAX_INT,
    MAX_KEY_LEN, MAX_LIST_LEN, MAX_TEXT_LEN, MIN_INT, SCHEMA_VERSION, SECTIONS, Event, Kind, Limits, Rule,
    clock_correction, excess_problem, ids_valid, parse_time, parse_times, realign, relation_problem, rules, time_window,
)

_Text = Annotated[str, Meta(max_length=MAX_TEXT_LEN)]
_Int = Annotated[int, Meta(ge=MIN_INT, le=MAX_INT)]
# msgspec floats refuse NaN and infinities when they come from JSON (which cannot spell them anyway)
_Scalar = Union[_Text, _Int, float, bool]
_Value = Union[_Scalar, None, Annotated[list[_Scalar], Meta(max_length=MAX_LIST_LEN)]]
_Key = Annotated[str, Meta(max_length=MAX_KEY_LEN)]
_Details = Annotated[dict[_Key, _Value], Meta(max_length=MAX_DETAILS)]


def _type(rule: Rule) -> Any:
    """The msgspec type of one contract field."""
    if rule.kind is Kind.ID or rule.kind is Kind.TIME:
        # ids: ids_valid, once per batch; times: parse_times, the contract's own reading. The pattern and the format
        # only describe them in the OpenAPI document (batch_schema); msgspec does not check them.
        shape = {"pattern": ID_PATTERN} if rule.kind is Kind.ID else {"format": "date-time"}
        t: Any = Annotated[str, Meta(extra_json_schema=shape)]
    elif rule.kind is Kind.TEXT:
        t = Annotated[str, Meta(min_length=1, max_length=rule.max_len)]
    elif rule.kind is Kind.CHOICE:
        t = Literal[rule.choices]  # type: ignore[valid-type]
    elif rule.kind is Kind.SECONDS:
        t = Annotated[float, Meta(ge=0, le=MAX_DURATION_S)]
    elif rule.kind is Kind.COUNT:
        t = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
    else:
        t = _Details
    return Union[t, None] if rule.nullable else t


def _struct(record: type) -> type[msgspec.Struct]:
    """A msgspec Struct with the fields of a contract record, in its order, refusing unknown fields."""
    fields = [(r.name, _type(r)) if r.required else (r.name, _type(r), r.default) for r in rules(record)]
    # gc=False: decoded JSON holds no cycles, so the garbage collector need not track the structs
    return msgspec.defstruct(record.__name__, fields, kw_only=True, forbid_unknown_fields=True, gc=False)


_STRUCTS = {sec.record: _struct(sec.record) for sec in SECTIONS}
_EVENT_FIELDS = _STRUCTS[Event].__struct_fields__
_EVENT_TIME = SECTIONS[0].time_field
_IDS_OF = {sec.record: tuple(r.name for r in rules(sec.record) if r.kind is Kind.ID) for sec in SECTIONS}
_RECORD_SECTIONS = tuple(sec for sec in SECTIONS if sec.record is not Event)  # decoded as dicts, not as columns


@cache
def _batch(limits: Limits) -> type[msgspec.Struct]:
    return msgspec.defstruct("Batch", [
        ("schema", Literal[SCHEMA_VERSION]),
        ("device_id", Annotated[str, Meta(pattern=DEVICE_ID_PATTERN)]),
        ("sent_at", Union[Annotated[str, Meta(extra_json_schema={"format": "date-time"})], msgspec.UnsetType],
         msgspec.UNSET),
        *((sec.field, Annotated[list[_STRUCTS[sec.record]], Meta(max_length=getattr(limits, sec.limit))], [])
          for sec in SECTIONS),
    ], kw_only=True, forbid_unknown_fields=True, gc=False)


@cache
def _decoder(limits: Limits) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(_batch(limits))


def batch_schema(limits: Limits, ref_template: str = "#/components/schemas/{name}") -> tuple[dict, dict]:
    """The JSON Schema of a batch body under ``limits``: ``(schema, components)``, ``schema`` a reference into
    ``components`` (``Batch`` and one per record class), for the OpenAPI document.

    It is generated from the very types :func:`decode` reads: the shape, ranges and lengths of every field. What
    JSON Schema cannot say (times against the collector's clock, relations between fields) the contract checks.
    """
    (schema,), components = msgspec.json.schema_components([_batch(limits)],
                                                           ref_template=ref_template)
    components["Batch"]["properties"]["device_id"]["pattern"] = DEVICE_ID_SCHEMA_PATTERN  # JSON Schema has no \Z
    return schema, components


# A control character in a JSON string: raw, only DEL can be there (the others are not valid JSON inside a
# string, and are whitespace between tokens); escaped, \b \f \n \r \t and \u0000-\u001f, \u007f.
_CONTROL_ESCAPE = re.compile(rb"\\(?:[bfnrt]|u00[01][0-9A-Fa-f]|u007[Ff])")


def _spells_control(body: bytes) -> bool:
    """True if a string of the JSON ``body`` holds a control character (``contract.records.CONTROL_CHARACTERS``).

    Every string a batch holds is one the contract reads, or one it refuses anyway (an unknown field's name, a
    malformed id or time), so such a body is never valid: leave it to the full check, which names the field.
    One scan of the body in C instead of a regular expression per string, which cost the fast path 4x. Escaped
    backslashes are dropped first, so that an escaped backslash followed by ``n`` is not read as a newline.
    """
    if b"\x7f" in body:
        return True
    return b"\\" in body and _CONTROL_ESCAPE.search(body.replace(b"\\\\", b"")) is not None


def decode(body: bytes, now: float, limits: Limits = Limits()) -> dict | None:
    """The normalised batch, its events as columns (:func:`collector.columns.of_batch`), if ``body`` is valid,
    else None.

    The events come out as :class:`~collector.columns.Columns`, transposed from the decoded structs: per-event
    work runs in C loops (``map``, ``zip``), not in Python. This is the ingest hot path.
    """
    if _spells_control(body):
        return None
    try:
        batch = _decoder(limits).decode(body)
    except (msgspec.DecodeError, RecursionError):  # DecodeError includes ValidationError
        return None
    # One tuple per event (astuple, in the struct's field order), transposed by zip into one per field: C loops.
    columns = zip(*map(astuple, batch.events)) if batch.events else [()] * len(_EVENT_FIELDS)
    events = Columns(dict(zip(_EVENT_FIELDS, columns)))
    starts = parse_times(events[_EVENT_TIME])
    others = {sec: getattr(batch, sec.field) for sec in _RECORD_SECTIONS}
    times = {sec: parse_times([getattr(r, sec.time_field) for r in recs]) for sec, recs in others.items()}
    ids = [*events["id"], *(getattr(r, name) for sec, recs in others.items() for r in recs for name in _IDS_OF[sec.record])]
    if starts is None or None in times.values() or not ids_valid(ids):
        return None
    try:
        sent_at = None if batch.sent_at is msgspec.UNSET else parse_time(batch.sent_at)
    except ValueError:  # a time the contract does not read
        return None
    correction = clock_correction(sent_at, [*starts, *(t for ts in times.values() for t in ts)], now, limits)
    if correction:
        starts = [t - correction for t in starts]
        times = {sec: [t - correction for t in ts] for sec, ts in times.items()}
    lo, hi = time_window(now, limits)
    if any(ts and not (lo <= min(ts) and max(ts) <= hi) for ts in (starts, *times.values())):
        return None
    if starts and max(map(add, starts, events["duration_s"])) > hi:  # an event has ended when it is sent
        return None
    if any(map(excess_problem, events["details"], events["duration_s"])):
        return None
    events[_EVENT_TIME] = starts
    out: dict[str, Any] = {"device_id": batch.device_id, "sent_at": sent_at, "clock_correction_s": correction,
                           "events": events}
    for sec, recs in others.items():
        rows = out[sec.field] = []
        time_of = sec.time_field
        for r, t in zip(recs, times[sec]):
            row = {**asdict(r), time_of: t}
            if relation_problem(sec.record, row, correction):
                return None
            realign(sec.record, row)
            rows.append(row)
    return out
