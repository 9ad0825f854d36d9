"""The wire contract's fast path: decode and check a batch body in one compiled pass.

:func:`agent.wire.validate_batch` defines the contract and names every
problem it finds, but in Python it costs more than storing the rows. Here
the same rules are declared as msgspec types, built from the constants of
:mod:`agent.wire`, so that a plainly valid body is decoded and checked in C.
:func:`decode` returns exactly what the full check gives
(``columns.of_batch(validate_batch(orjson.loads(body)))``), or None when the
body is not plainly valid; the caller then runs the full check, which is the
one that explains the refusal. A property test
(tests/collector/test_fastwire.py) keeps the two in step.
"""

from functools import lru_cache
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta, Struct
from msgspec.structs import asdict, astuple

from agent import wire
from collector.columns import Columns

_I64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]  # what orjson, the slow path's parser, reads
_Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]
_Seconds = Annotated[float, Meta(ge=0, le=wire.MAX_DURATION_S)]
_Label = Annotated[str, Meta(min_length=1, max_length=wire.MAX_LABEL_LEN)]
_Id = str  # checked by wire.ids_valid, once for the whole batch
_Time = str  # parsed by wire.parse_time, the contract's own reading of RFC 3339
_Value = Union[Annotated[str, Meta(max_length=wire.MAX_TEXT_LEN)], _I64, float, bool, None]
_Details = Annotated[dict[Annotated[str, Meta(max_length=wire.MAX_KEY_LEN)], _Value], Meta(max_length=wire.MAX_DETAILS)]


class _Event(Struct, forbid_unknown_fields=True, gc=False):  # decoded JSON holds no cycles
    id: _Id
    type: Literal[wire.EVENT_TYPES]  # type: ignore[valid-type]
    app: Annotated[str, Meta(min_length=1, max_length=wire.MAX_APP_LEN)]
    start: _Time
    duration_s: _Seconds
    severity: Literal[wire.SEVERITIES] = "error"  # type: ignore[valid-type]
    active_s: Union[_Seconds, None] = None
    details: _Details = {}


class _Heartbeat(Struct, forbid_unknown_fields=True, gc=False):
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
    class _Batch(Struct, forbid_unknown_fields=True, gc=False):
        schema: Literal[wire.SCHEMA_VERSION]  # type: ignore[valid-type]
        device_id: Annotated[str, Meta(pattern=wire._DEVICE_RE.pattern)]
        sent_at: Union[_Time, msgspec.UnsetType] = msgspec.UNSET
        events: Annotated[list[_Event], Meta(max_length=max_events)] = []
        heartbeats: Annotated[list[_Heartbeat], Meta(max_length=max_heartbeats)] = []

    return msgspec.json.Decoder(_Batch)


def decode(body: bytes, now: float, limits: wire.Limits = wire.Limits()) -> dict | None:
    """The normalised batch, its events as columns (:func:`collector.columns.of_batch`), if ``body`` is plainly
    valid, else None.

    The events come out as :class:`~collector.columns.Columns`, transposed from the decoded structs: per-event
    work runs in C loops (``map``, ``zip``), not in Python. This is the ingest hot path.
    """
    try:
        batch = _decoder(limits.max_events, limits.max_heartbeats).decode(body)
    except msgspec.DecodeError:  # includes ValidationError
        return None
    # One tuple per event (astuple, in the struct's field order), transposed by zip into one per field: C loops.
    fields = _Event.__struct_fields__
    events = Columns(dict(zip(fields, zip(*map(astuple, batch.events)) if batch.events else [()] * len(fields))))
    starts = wire.parse_times(events["start"])
    if starts is None or not wire.ids_valid([*events["id"], *(h.id for h in batch.heartbeats)]):
        return None
    lo, hi = now - limits.max_age_s, now + limits.max_future_s
    if starts and not (lo <= min(starts) and max(starts) <= hi):
        return None
    events["start"] = starts
    try:
        sent_at = None if batch.sent_at is msgspec.UNSET else wire.parse_time(batch.sent_at)
        heartbeats = []
        for h in batch.heartbeats:
            t = wire.parse_time(h.time)
            if not lo <= t <= hi or h.active_s > h.interval_s + 1:
                return None
            heartbeats.append({**asdict(h), "time": t})
    except ValueError:  # a time the contract does not read
        return None
    return {"device_id": batch.device_id, "sent_at": sent_at, "events": events, "heartbeats": heartbeats}
