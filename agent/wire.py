"""The wire contract between agent and collector, version 1.

This module is the single definition of what crosses the network. The agent
builds records with it; the collector validates incoming batches with it. It
imports only the standard library so the agent stays light.

A *batch* is what one device uploads in one request (``POST /api/v1/events``,
JSON, optionally gzip-encoded)::

    {
      "schema": 1,
      "device_id": "0f6c...",             # created once per installation
      "sent_at": "2026-11-23T13:00:00.000Z",  # agent clock, for skew detection
      "events": [Event, ...],
      "heartbeats": [Heartbeat, ...]
    }

An *event* is one disruption, an interval on the device::

    {
      "id": "01938f6e-...",               # UUIDv7: unique and time-ordered
      "type": "crash",                    # one of EVENT_TYPES
      "app": "firefox",                   # application or network target
      "start": "2026-11-23T12:59:58.120Z",  # UTC, RFC 3339 with 'Z'
      "duration_s": 0.0,                  # >= 0; 0 for instantaneous events
      "severity": "error",                # one of SEVERITIES
      "active_s": 0.0,                    # employee-active seconds inside it, or null
      "details": {"signal": "SIGSEGV"}    # bounded, flat, structured
    }

A *heartbeat* closes one interval of the agent's life and carries the device
inventory and the employee's active seconds in that interval (the impact
model's denominator)::

    {
      "id": "01938f6e-...", "time": "...Z", "interval_s": 60.0, "active_s": 42.0,
      "os": "linux", "os_version": "6.1", "agent_version": "0.1.0",
      "site": "Paris", "department": "Finance",
      "spool_dropped_total": 0, "rejected_total": 0, "sensor_errors_total": 0,
      "details": {}
    }

The collector answers ``200 {"accepted": n, "duplicates": d}`` once the batch
is committed, or a 4xx whose JSON ``detail`` names what is wrong; for a 422
``detail.errors`` lists ``{"index": i, "kind": "event", "field": f, "error": e}``
so the agent can set aside exactly the records that can never be accepted.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import repeat
from operator import attrgetter
from typing import Any

SCHEMA_VERSION = 1

EVENT_TYPES = (
    "crash",  # an application died abnormally (signal, exception)
    "hang",  # an application stopped responding
    "slow_app",  # an application or its service answered slower than its threshold
    "app_unavailable",  # an application's service failed (timeout, 5xx, TLS)
    "slow_system",  # the whole machine was saturated (CPU, memory, I/O, disk)
    "connectivity_loss",  # the device lost its network or a required target
    "connectivity_degraded",  # connectivity was up but slow or lossy
    "unexpected_shutdown",  # the machine went down without a clean stop
    "abnormal_exit",  # a catalogued application exited with a non-zero status
    "test",  # emitted only by the test sensor
)
SEVERITIES = ("info", "warning", "error", "critical")

# Bounds that keep one record small and the collector's tables sane.
MAX_DETAILS = 32
MAX_KEY_LEN = 64
MAX_TEXT_LEN = 512
MAX_APP_LEN = 128
MAX_LABEL_LEN = 64
MAX_DURATION_S = 31 * 86400.0

_HEX_TO_X = str.maketrans(dict.fromkeys("0123456789abcdef", "x"))
_ID_SHAPE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"  # then version 7 at [14] and variant 8, 9, a or b at [19]


def ids_valid(ids: list[str]) -> bool:
    """True if every id is a lowercase UUIDv7 string.

    One check over all of them (a regular expression per id costs 40% of the
    collector's decoding of a batch).
    """
    if not set(map(len, ids)) <= {36}:
        return False
    joined, n = "".join(ids), len(ids)
    return joined.translate(_HEX_TO_X) == _ID_SHAPE * n and joined[14::36] == "7" * n and not joined[19::36].strip("89ab")


_DEVICE_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_id(now: float | None = None) -> str:
    """Return a UUIDv7 string: 48 bits of Unix milliseconds, then randomness."""
    ms = int((time.time() if now is None else now) * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def id_time(record_id: str) -> float:
    """Return the Unix time (seconds) encoded in a UUIDv7 id."""
    return (uuid.UUID(record_id).int >> 80) / 1000.0


def format_time(ts: float) -> str:
    """Format a Unix timestamp as RFC 3339 UTC with milliseconds and 'Z'."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_TIME_ERROR = "must be an RFC 3339 timestamp with a timezone, e.g. 2026-11-23T12:00:00Z"


def parse_time(text: str) -> float:
    """Parse an RFC 3339 timestamp with an explicit offset ('Z' or +hh:mm) into Unix seconds."""
    times = parse_times([text])
    if times is None:
        raise ValueError(_TIME_ERROR)
    return times[0]


_TZINFO = attrgetter("tzinfo")


def parse_times(texts: list[str]) -> list[float] | None:
    """:func:`parse_time` of every text, or None if one is not a time the contract reads.

    The contract's reading of times, for a whole batch at once: its loops run in C (``map``).
    """
    try:
        parsed = list(map(datetime.fromisoformat, texts))  # Python >= 3.11 reads 'Z'
    except (TypeError, ValueError):
        return None
    if None in map(_TZINFO, parsed) or not all(map(str.__contains__, texts, repeat("T"))):
        return None
    return list(map(datetime.timestamp, parsed))


@dataclass
class Event:
    """One disruption on one device."""

    type: str
    app: str
    start: float  # Unix seconds, UTC
    duration_s: float = 0.0
    severity: str = "error"
    details: dict[str, Any] = field(default_factory=dict)
    active_s: float | None = None
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_id(self.start)

    def to_wire(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"] = format_time(self.start)
        return d


@dataclass
class Heartbeat:
    """The end of one interval of the agent's life, with inventory and activity."""

    time: float
    interval_s: float
    active_s: float
    os: str
    os_version: str
    agent_version: str
    site: str
    department: str
    spool_dropped_total: int = 0
    rejected_total: int = 0
    sensor_errors_total: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_id(self.time)

    def to_wire(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = format_time(self.time)
        return d


def make_batch(device_id: str, events: list[dict], heartbeats: list[dict], now: float | None = None) -> dict:
    """Wrap wire records (already in wire form) into a batch."""
    return {
        "schema": SCHEMA_VERSION,
        "device_id": device_id,
        "sent_at": format_time(time.time() if now is None else now),
        "events": events,
        "heartbeats": heartbeats,
    }


# ---------------------------------------------------------------- validation


class ContractError(ValueError):
    """A batch violates the contract; ``errors`` lists every problem found."""

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        first = errors[0]
        where = f"{first['kind']}[{first['index']}]." if first.get("index") is not None else ""
        super().__init__(f"{where}{first['field']}: {first['error']}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))


@dataclass(frozen=True)
class Limits:
    """What a collector accepts; the agent uses the same defaults."""

    max_events: int = 5000
    max_heartbeats: int = 500
    max_future_s: float = 600.0  # a record may be at most this far ahead of the collector's clock
    max_age_s: float = 35 * 86400.0  # ... and at most this old


def _err(errors: list, kind: str, index: int | None, fld: str, msg: str) -> None:
    errors.append({"kind": kind, "index": index, "field": fld, "error": msg})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_text(errors, kind, i, rec, fld, max_len, required=True) -> None:
    v = rec.get(fld)
    if v is None:
        if required:
            _err(errors, kind, i, fld, "missing")
    elif not isinstance(v, str):
        _err(errors, kind, i, fld, f"must be a string, got {type(v).__name__}")
    elif required and not v:
        _err(errors, kind, i, fld, "must not be empty")
    elif len(v) > max_len:
        _err(errors, kind, i, fld, f"longer than {max_len} characters")


def _check_details(errors, kind, i, rec) -> None:
    d = rec.get("details", {})
    if not isinstance(d, dict):
        _err(errors, kind, i, "details", "must be an object")
        return
    if len(d) > MAX_DETAILS:
        _err(errors, kind, i, "details", f"more than {MAX_DETAILS} keys")
    for k, v in d.items():
        if len(k) > MAX_KEY_LEN:
            _err(errors, kind, i, "details", f"key longer than {MAX_KEY_LEN} characters")
        elif isinstance(v, str):
            if len(v) > MAX_TEXT_LEN:
                _err(errors, kind, i, f"details.{k}", f"longer than {MAX_TEXT_LEN} characters")
        elif v is not None and not isinstance(v, (bool, int, float)):
            if isinstance(v, list) and len(v) <= 16 and all(isinstance(x, (str, int, float)) for x in v):
                continue
            _err(errors, kind, i, f"details.{k}", "must be a string, number, boolean, null or a short list of them")


def _check_time(errors, kind, i, rec, fld, now, limits) -> float | None:
    v = rec.get(fld)
    if v is None:
        _err(errors, kind, i, fld, "missing")
        return None
    try:
        ts = parse_time(v)
    except ValueError as exc:
        _err(errors, kind, i, fld, str(exc))
        return None
    if ts > now + limits.max_future_s:
        _err(errors, kind, i, fld, f"{ts - now:.0f} s in the future (limit {limits.max_future_s:.0f} s); is the device clock wrong?")
    elif ts < now - limits.max_age_s:
        _err(errors, kind, i, fld, f"older than {limits.max_age_s / 86400:.0f} days")
    return ts


def _check_id(errors, kind, i, rec) -> None:
    v = rec.get("id")
    if not isinstance(v, str) or not ids_valid([v]):
        _err(errors, kind, i, "id", "must be a lowercase UUIDv7 string")


def _check_nonneg(errors, kind, i, rec, fld, required=True, maximum=MAX_DURATION_S) -> None:
    v = rec.get(fld)
    if v is None:
        if required:
            _err(errors, kind, i, fld, "missing")
    elif not _number(v):
        _err(errors, kind, i, fld, "must be a finite number")
    elif v < 0 or v > maximum:
        _err(errors, kind, i, fld, f"must be between 0 and {maximum:.0f}")


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
    unknown = set(batch) - {"schema", "device_id", "sent_at", "events", "heartbeats"}
    for k in sorted(unknown):
        _err(errors, "batch", None, k, "unknown field")
    if batch.get("schema") != SCHEMA_VERSION:
        _err(errors, "batch", None, "schema", f"must be {SCHEMA_VERSION}, got {batch.get('schema')!r}")
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

    out_events = []
    for i, ev in enumerate(events):
        checked = _check_event(errors, i, ev, now, limits)
        if checked is not None:
            out_events.append(checked)

    out_hbs = []
    for i, hb in enumerate(heartbeats):
        if not isinstance(hb, dict):
            _err(errors, "heartbeat", i, "record", "must be an object")
            continue
        n_before = len(errors)
        for k in sorted(set(hb) - _HEARTBEAT_FIELDS):
            _err(errors, "heartbeat", i, k, "unknown field")
        _check_id(errors, "heartbeat", i, hb)
        ts = _check_time(errors, "heartbeat", i, hb, "time", now, limits)
        _check_nonneg(errors, "heartbeat", i, hb, "interval_s")
        _check_nonneg(errors, "heartbeat", i, hb, "active_s")
        if _number(hb.get("active_s")) and _number(hb.get("interval_s")) and hb["active_s"] > hb["interval_s"] + 1:
            _err(errors, "heartbeat", i, "active_s", "larger than interval_s")
        for fld in ("os", "os_version", "agent_version", "site", "department"):
            _check_text(errors, "heartbeat", i, hb, fld, MAX_LABEL_LEN)
        for fld in ("spool_dropped_total", "rejected_total", "sensor_errors_total"):
            v = hb.get(fld, 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                _err(errors, "heartbeat", i, fld, "must be a non-negative integer")
        _check_details(errors, "heartbeat", i, hb)
        if len(errors) == n_before:
            rec = {k: hb.get(k, 0) for k in ("spool_dropped_total", "rejected_total", "sensor_errors_total")}
            rec.update({k: hb[k] for k in ("id", "os", "os_version", "agent_version", "site", "department")})
            rec.update(time=ts, interval_s=float(hb["interval_s"]), active_s=float(hb["active_s"]), details=hb.get("details") or {})
            out_hbs.append(rec)

    if errors:
        raise ContractError(errors)
    return {"device_id": dev, "sent_at": sent_at, "events": out_events, "heartbeats": out_hbs}


def _check_event(errors: list, i: int, ev: Any, now: float, limits: Limits) -> dict | None:
    """Every rule for one event: append each problem to ``errors``; the normalised event if there was none."""
    if not isinstance(ev, dict):
        _err(errors, "event", i, "record", "must be an object")
        return None
    n_before = len(errors)
    for k in sorted(set(ev).difference(EVENT_FIELDS)):
        _err(errors, "event", i, k, "unknown field")
    _check_id(errors, "event", i, ev)
    t = ev.get("type")
    if t not in EVENT_TYPES:
        _err(errors, "event", i, "type", f"unknown event type {t!r}; expected one of {', '.join(EVENT_TYPES)}")
    _check_text(errors, "event", i, ev, "app", MAX_APP_LEN)
    start = _check_time(errors, "event", i, ev, "start", now, limits)
    _check_nonneg(errors, "event", i, ev, "duration_s")
    _check_nonneg(errors, "event", i, ev, "active_s", required=False)
    sev = ev.get("severity", "error")
    if sev not in SEVERITIES:
        _err(errors, "event", i, "severity", f"must be one of {', '.join(SEVERITIES)}")
    _check_details(errors, "event", i, ev)
    if len(errors) > n_before:
        return None
    return {"id": ev["id"], "type": t, "app": ev["app"], "start": start, "duration_s": float(ev["duration_s"]),
            "severity": sev, "active_s": None if ev.get("active_s") is None else float(ev["active_s"]),
            "details": ev.get("details") or {}}


EVENT_FIELDS = ("id", "type", "app", "start", "duration_s", "severity", "active_s", "details")  # of a normalised event
_HEARTBEAT_FIELDS = {
    "id", "time", "interval_s", "active_s", "os", "os_version", "agent_version", "site", "department",
    "spool_dropped_total", "rejected_total", "sensor_errors_total", "details",
}
