"""The wire contract's fast path: decode and check a batch body in one compiled pass.

:func:`agent.wire.validate_batch` defines the contract and names every
problem it finds, but in Python it costs more than storing the rows. Here
the same rules are declared as msgspec types, built from the constants of
:mod:`agent.wire`, so that a plainly valid body is decoded and checked in C.
:func:`decode` returns exactly what ``validate_batch(orjson.loads(body))``
returns, or None when the body is not plainly valid; the caller then runs the
full check, which is the one that explains the refusal. A property test
(tests/collector/test_fastwire.py) keeps the two in step.
"""

from functools import lru_cache
from typing import Annotated, Callable, Literal, Union

import msgspec
from msgspec import Meta, Struct

from agent import wire

_I64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]  # what orjson, the slow path's parser, reads
_Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]
_Seconds = Annotated[float, Meta(ge=0, le=wire.MAX_DURATION_S)]
_Label = Annotated[str, Meta(min_length=1, max_length=wire.MAX_LABEL_LEN)]
_Id = Annotated[str, Meta(pattern=wire._ID_RE.pattern)]
_Time = str  # parsed by wire.parse_time, the contract's own reading of RFC 3339
_Value = Union[Annotated[str, Meta(max_length=wire.MAX_TEXT_LEN)], _I64, float, bool, None]
_Details = Annotated[dict[Annotated[str, Meta(max_length=wire.MAX_KEY_LEN)], _Value], Meta(max_length=wire.MAX_DETAILS)]


class _Event(Struct, forbid_unknown_fields=True):
    id: _Id
    type: Literal[wire.EVENT_TYPES]  # type: ignore[valid-type]
    app: Annotated[str, Meta(min_length=1, max_length=wire.MAX_APP_LEN)]
    start: _Time
    duration_s: _Seconds
    severity: Literal[wire.SEVERITIES] = "error"  # type: ignore[valid-type]
    active_s: Union[_Seconds, None] = None
    details: _Details = {}


class _Heartbeat(Struct, forbid_unknown_fields=True):
    id: _Id
    time: _Time
    interval_s: _Seconds
    active_s: _Seconds
    os: _Label
    os_version: _Label
    agent_version: _Label
    site: _Label
    department: _Label
    spool_dropped_total: _Count = 0
    rejected_total: _Count = 0
    sensor_errors_total: _Count = 0
    details: _Details = {}


@lru_cache(maxsize=8)
def _decoder(max_events: int, max_heartbeats: int) -> msgspec.json.Decoder:
    class _Batch(Struct, forbid_unknown_fields=True):
        schema: Literal[wire.SCHEMA_VERSION]  # type: ignore[valid-type]
        device_id: Annotated[str, Meta(pattern=wire._DEVICE_RE.pattern)]
        sent_at: Union[_Time, msgspec.UnsetType] = msgspec.UNSET
        events: Annotated[list[_Event], Meta(max_length=max_events)] = []
        heartbeats: Annotated[list[_Heartbeat], Meta(max_length=max_heartbeats)] = []

    return msgspec.json.Decoder(_Batch)


def decode(body: bytes, now: float, limits: wire.Limits = wire.Limits()) -> dict | None:
    """The normalised batch (as :func:`agent.wire.validate_batch` gives it) if ``body`` is plainly valid, else None."""
    try:
        batch = _decoder(limits.max_events, limits.max_heartbeats).decode(body)
    except msgspec.DecodeError:  # includes ValidationError
        return None
    lo, hi = now - limits.max_age_s, now + limits.max_future_s
    parse: Callable[[str], float] = wire.parse_time
    try:
        sent_at = None if batch.sent_at is msgspec.UNSET else parse(batch.sent_at)
        events = []
        for e in batch.events:
            start = parse(e.start)
            if not lo <= start <= hi:
                return None
            events.append({"id": e.id, "type": e.type, "app": e.app, "start": start, "duration_s": e.duration_s,
                           "severity": e.severity, "active_s": e.active_s, "details": e.details})
        heartbeats = []
        for h in batch.heartbeats:
            t = parse(h.time)
            if not lo <= t <= hi or h.active_s > h.interval_s + 1:
                return None
            heartbeats.append({
                "spool_dropped_total": h.spool_dropped_total, "rejected_total": h.rejected_total,
                "sensor_errors_total": h.sensor_errors_total, "id": h.id, "os": h.os, "os_version": h.os_version,
                "agent_version": h.agent_version, "site": h.site, "department": h.department, "time": t,
                "interval_s": h.interval_s, "active_s": h.active_s, "details": h.details})
    except ValueError:  # a time the contract does not read
        return None
    return {"device_id": batch.device_id, "sent_at": sent_at, "events": events, "heartbeats": heartbeats}
