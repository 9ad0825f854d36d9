"""The wire records, version 1: every field declared once, with its bound.

A *batch* is what one device uploads in one request (``POST /api/v1/events``,
JSON, optionally gzip-encoded)::

    {
      "schema": 1,
      "device_id": "0f6c...",             # created once per installation
      "sent_at": "2026-11-23T13:00:00.000Z",  # agent clock, for skew detection
      "events": [Event, ...],
      "heartbeats": [Heartbeat, ...],
      "feedback": [Feedback, ...],        # optional: the pulse's answers (issue 14)
      "usage": [Usage, ...]               # optional: app focus totals per period
    }

An *event* is one disruption, an interval on the device::

    {
      "id": "01938f6e-...",               # UUIDv7: unique and time-ordered
      "type": "crash",                    # one of contract.events.WIRE_TYPES
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
      "os_build": "22631.4460", "hw_vendor": "LENOVO", "hw_model": "ThinkPad T14 Gen 3",
      "cpu_class": "Intel Core i5", "memory_bytes": 17179869184,
      "spool_dropped_total": 0, "rejected_total": 0, "sensor_errors_total": 0,
      "details": {}
    }

The agent builds records as :class:`Event` and :class:`Heartbeat`; each of
their fields carries a :class:`Rule` (its :class:`Kind` and bounds), which
:mod:`contract.check` applies in Python and the collector's compiled fast path
(``collector/fastwire.py``) turns into msgspec types. Adding a field is one
line in one of these classes.

Every value is bounded so that no record costs the collector more than its own
span nor fails a database (docs/security.md): every string the contract reads
(texts, detail keys, detail strings, times) is free of control characters
(:data:`CONTROL_CHARACTERS`); every integer is a signed 64-bit one; the one
detail the collector reads as a number, ``excess_s``, is seconds within its
event (:func:`excess_problem`); an event has ended when it is sent.
Record times are read on the collector's clock: a batch is moved by its
device's skew only when :func:`clock_correction` finds it needed, plausible and
consistent, and what is accepted lies within :func:`time_window` of the
collector's clock.

The collector answers ``200 {"accepted": n, "duplicates": d}`` once the batch
is committed, or a 4xx whose JSON ``detail`` names what is wrong; for a 422
``detail.errors`` lists ``{"index": i, "kind": "event", "field": f, "error": e}``
(the first :data:`MAX_ERRORS`; ``detail.errors_total`` counts them all)
so the agent can set aside exactly the records that can never be accepted.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from itertools import repeat
from operator import attrgetter
from typing import Any, Sequence

from contract.answers import ANSWER_NAMES
from contract.events import EXCESS_S, SEVERITIES, WIRE_TYPES
from contract.identity import KEY_HEX

SCHEMA_VERSION = 1

# Bounds that keep one record small, what it costs the collector proportional to its own span, and every value
# storable as it is in SQLite and PostgreSQL alike (docs/security.md, "Records: every value bounded").
MAX_DETAILS = 32  # keys in one record's details
MAX_KEY_LEN = 64  # characters of a detail key
MAX_TEXT_LEN = 512  # characters of a text detail, or of a text in a detail's list
MAX_LIST_LEN = 16  # items of a detail's list
MAX_APP_LEN = 128
MAX_LABEL_LEN = 64
UNKNOWN = "unknown"  # an inventory text the agent could not read
MAX_DURATION_S = 31 * 86400.0  # seconds: a duration, an interval, and the details read as seconds (excess_s)
# Every integer (counts, integers in details) is a signed 64-bit one: what SQLite's INTEGER and PostgreSQL's
# BIGINT store (the device's count columns are BIGINT), and what msgspec and the full check read alike.
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
MAX_COUNT = MAX_INT
_DEVICE_ID_CHARS = r"[A-Za-z0-9._:-]{8,64}"
DEVICE_ID_PATTERN = rf"^{_DEVICE_ID_CHARS}\Z"  # Python's re: \Z, not $, which also matches before a final newline
DEVICE_ID_SCHEMA_PATTERN = rf"^{_DEVICE_ID_CHARS}$"  # the same rule in JSON Schema (ECMA-262), where $ is the end
_DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)
DEVICE_ID_ERROR = "must be 8-64 characters of letters, digits, '.', '_', ':' or '-'"


def device_id_valid(value: Any) -> bool:
    """True if ``value`` is a device id the contract accepts (:data:`DEVICE_ID_PATTERN`)."""
    return isinstance(value, str) and _DEVICE_ID_RE.match(value) is not None
# Every string the contract reads (texts, detail keys, detail strings, times) is free of control characters: NUL,
# which PostgreSQL cannot store in text, and the other C0 controls and DEL, which have no place in a label or a
# detail and would reach logs, terminals and reports. (The fast path refuses a body whose JSON spells one.)
CONTROL_CHARACTERS = "".join(map(chr, [*range(0x20), 0x7F]))
CONTROL_ERROR = "must not contain control characters (U+0000-U+001F, U+007F)"
ROUNDING_S = 1.0  # seconds of rounding allowed where one measured duration must fit in another
MAX_ERRORS = 100  # problems a refusal lists (the first ones; it also counts them all)
_CONTROL_BYTES = CONTROL_CHARACTERS.encode()  # in UTF-8 these bytes are never part of another character


def has_control(text: str) -> bool:
    """True if ``text`` holds one of :data:`CONTROL_CHARACTERS` (in C: five times a regular expression's speed)."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw.translate(None, _CONTROL_BYTES)) != len(raw)


_CONTROL_TO_SPACE = str.maketrans(dict.fromkeys(CONTROL_CHARACTERS, " "))


def printable(value: Any) -> Any:
    """``value`` with each control character of its text (or of the texts in its list) replaced by a space.

    What an agent makes of a name it did not choose (an executable, an OS
    string) before the contract's check, which would refuse the record.
    """
    if isinstance(value, str):
        return value.translate(_CONTROL_TO_SPACE)
    if isinstance(value, list):
        return [printable(item) for item in value]
    return value


@dataclass(frozen=True)
class Limits:
    """What a collector accepts; the agent uses the same defaults."""

    max_events: int = 5000
    max_heartbeats: int = 500
    max_feedback: int = 5000
    max_usage: int = 5000
    max_future_s: float = 600.0  # a record may be at most this far ahead of the collector's clock
    max_age_s: float = 35 * 86400.0  # ... and at most this old
    max_skew_s: float = 35 * 86400.0  # a device clock off by more than this is never corrected (clock_correction)


class Kind(enum.Enum):
    """What a record field holds on the wire, and how it is checked."""

    ID = "id"  # a lowercase UUIDv7 string
    TIME = "time"  # an RFC 3339 timestamp with an offset; Unix seconds once read
    TEXT = "text"  # a non-empty string of at most Rule.max_len characters, none of them a control character
    CHOICE = "choice"  # one of Rule.choices
    SECONDS = "seconds"  # a finite number from 0 to MAX_DURATION_S
    COUNT = "count"  # a non-negative integer
    DETAILS = "details"  # a flat object: see Rule and check.py


@dataclass(frozen=True)
class Rule:
    """How one record field crosses the wire. ``name`` and ``default`` come from the record class."""

    kind: Kind
    max_len: int = 0  # TEXT
    choices: tuple[str, ...] = ()  # CHOICE
    required: bool = True  # must be present on the wire (else absent means ``default``)
    nullable: bool = False  # null is allowed (means "unknown")
    inventory: bool = False  # heartbeat fields the collector keeps on the device row (its latest value)
    name: str = ""
    default: Any = None


def _field(kind: Kind, *, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING,
           **rule: Any) -> Any:
    """A record field with its wire :class:`Rule`."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"wire": Rule(kind, **rule)})


@cache
def rules(record: type) -> tuple[Rule, ...]:
    """The wire rules of a record class's fields, with their names and their defaults when absent."""
    out = []
    for f in dataclasses.fields(record):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(dataclasses.replace(f.metadata["wire"], name=f.name,
                                       default=None if default is dataclasses.MISSING else default))
    return tuple(out)


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


_HEX_TO_X = str.maketrans(dict.fromkeys("0123456789abcdef", "x"))
_ID_SHAPE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"  # then version 7 at [14] and variant 8, 9, a or b at [19]
# What ids_valid accepts, as a pattern to describe it (the OpenAPI document); ids_valid does not use it.
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def ids_valid(ids: list[str]) -> bool:
    """True if every id is a lowercase UUIDv7 string.

    One check over all of them: a regular expression per id costs 40% of the
    collector's decoding of a batch.
    """
    if not set(map(len, ids)) <= {36}:
        return False
    joined, n = "".join(ids), len(ids)
    return joined.translate(_HEX_TO_X) == _ID_SHAPE * n and joined[14::36] == "7" * n and not joined[19::36].strip("89ab")


def format_time(ts: float) -> str:
    """Format a Unix timestamp as RFC 3339 UTC with milliseconds and 'Z' (a four-digit year, even before 1000).

    Raises ValueError, OverflowError or OSError for a time outside the years 1-9999.
    """
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


TIME_ERROR = "must be an RFC 3339 timestamp with a timezone, e.g. 2026-11-23T12:00:00Z"


def parse_time(text: str) -> float:
    """Parse an RFC 3339 timestamp with an explicit offset ('Z' or +hh:mm) into Unix seconds."""
    times = parse_times([text])
    if times is None:
        raise ValueError(TIME_ERROR)
    return times[0]


_TZINFO = attrgetter("tzinfo")


def parse_times(texts: list[str]) -> list[float] | None:
    """:func:`parse_time` of every text, or None if one is not a time the contract reads.

    The contract's one reading of times, for a whole batch at once: its loops run in C (``map``).
    """
    try:
        parsed = list(map(datetime.fromisoformat, texts))  # Python >= 3.11 reads 'Z'
    except (TypeError, ValueError):
        return None
    if None in map(_TZINFO, parsed) or not all(map(str.__contains__, texts, repeat("T"))) or has_control("".join(texts)):
        return None  # fromisoformat reads '12:00:00\tZ'; the contract reads no control character anywhere
    return list(map(datetime.timestamp, parsed))


def active_within_interval(active_s: float, interval_s: float) -> bool:
    """A heartbeat's active seconds fit in its interval (:data:`ROUNDING_S` of rounding allowed)."""
    return active_s <= interval_s + ROUNDING_S


def seconds_valid(value: Any) -> bool:
    """A :attr:`Kind.SECONDS` value: a finite number (not a boolean) from 0 to :data:`MAX_DURATION_S`."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value <= MAX_DURATION_S)


def excess_problem(details: dict[str, Any], duration_s: float) -> str | None:
    """Why an event's ``details.excess_s`` is refused, or None if it is absent, null or seconds within the event.

    The time beyond a threshold is part of the event (:data:`ROUNDING_S` allowed), so that no detail makes an
    event cost more, or reach further, than its own span. The one detail the collector reads as a number.
    """
    excess = details.get(EXCESS_S)
    if excess is None:
        return None
    if not seconds_valid(excess):
        return f"must be a finite number of seconds from 0 to {MAX_DURATION_S:.0f}"
    if excess > duration_s + ROUNDING_S:
        return "larger than duration_s: the time beyond a threshold is part of the event"
    return None


def time_window(clock: float, limits: Limits) -> tuple[float, float]:
    """The record times a clock reading ``clock`` accepts: ``[clock - max_age_s, clock + max_future_s]``."""
    return clock - limits.max_age_s, clock + limits.max_future_s


def clock_correction(sent_at: float | None, times: Sequence[float], now: float, limits: Limits) -> float:
    """What to subtract from a batch's record times to put them on the collector's clock: 0 or the device's skew.

    A device whose clock is wrong stamps its records and the batch's ``sent_at``
    with that clock; the skew ``sent_at - now`` moves them to the collector's.
    The batch is moved, all of it, only when the correction is

    - *needed*: the skew is beyond ``max_future_s`` (the lead any record may have anyway);
    - *plausible*: the skew is at most ``max_skew_s`` (a drifting clock, a wrong time zone or date; a clock reset
      to its firmware's epoch, or a forged ``sent_at``, is further off);
    - *consistent*: every record time (``times``, as sent) fits :func:`time_window` of ``sent_at``, i.e. the records
      were stamped by the clock that stamped ``sent_at``.

    Otherwise nothing moves, and the records' times are checked as they are, on the collector's clock: records
    stamped right while ``sent_at`` is wrong are stored where they belong, and never moved by a ``sent_at`` that
    says nothing about them. Either way, what is stored is checked against the collector's clock
    (:func:`time_window` of ``now``).
    """
    if sent_at is None:
        return 0.0
    skew = sent_at - now
    if not limits.max_future_s < abs(skew) <= limits.max_skew_s:
        return 0.0
    lo, hi = time_window(sent_at, limits)
    return skew if not times or (lo <= min(times) and max(times) <= hi) else 0.0


class _Record:
    """What the wire records share: an id made from their time, and their wire form."""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_id(getattr(self, _time_field(type(self))))

    def to_wire(self) -> dict[str, Any]:
        """The record as it is sent: a JSON-ready dict, times as RFC 3339 text."""
        d = dataclasses.asdict(self)
        for rule in rules(type(self)):
            if rule.kind is Kind.TIME:
                d[rule.name] = format_time(d[rule.name])
        return d

    def make_printable(self) -> None:
        """Replace the control characters of every text, detail key and detail string by spaces (:func:`printable`)."""
        for rule in rules(type(self)):
            value = getattr(self, rule.name)
            if rule.kind is Kind.TEXT:
                setattr(self, rule.name, printable(value))
            elif rule.kind is Kind.DETAILS and isinstance(value, dict):
                setattr(self, rule.name, {printable(k): printable(v) for k, v in value.items()})


@cache
def _time_field(record: type) -> str:
    return next(r.name for r in rules(record) if r.kind is Kind.TIME)


@dataclass
class Event(_Record):
    """One disruption on one device."""

    type: str = _field(Kind.CHOICE, choices=WIRE_TYPES)
    app: str = _field(Kind.TEXT, max_len=MAX_APP_LEN)
    start: float = _field(Kind.TIME)  # Unix seconds, UTC
    duration_s: float = _field(Kind.SECONDS, default=0.0)
    severity: str = _field(Kind.CHOICE, choices=SEVERITIES, default="error", required=False)
    details: dict[str, Any] = _field(Kind.DETAILS, default_factory=dict, required=False)  # excess_s: excess_problem
    active_s: float | None = _field(Kind.SECONDS, default=None, required=False, nullable=True)
    id: str = _field(Kind.ID, default="")


@dataclass
class Heartbeat(_Record):
    """The end of one interval of the agent's life, with inventory and activity."""

    time: float = _field(Kind.TIME)
    interval_s: float = _field(Kind.SECONDS)
    active_s: float = _field(Kind.SECONDS)  # at most interval_s (active_within_interval)
    os: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, inventory=True)
    os_version: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, inventory=True)
    agent_version: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, inventory=True)
    site: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, inventory=True)
    department: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, inventory=True)
    # the device's cohort (issue 15): what the report and /metrics compare devices by; "unknown" (0) when not read
    os_build: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, default=UNKNOWN, required=False, inventory=True)
    hw_vendor: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, default=UNKNOWN, required=False, inventory=True)
    hw_model: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, default=UNKNOWN, required=False, inventory=True)
    cpu_class: str = _field(Kind.TEXT, max_len=MAX_LABEL_LEN, default=UNKNOWN, required=False, inventory=True)
    memory_bytes: int = _field(Kind.COUNT, default=0, required=False, inventory=True)
    spool_dropped_total: int = _field(Kind.COUNT, default=0, required=False, inventory=True)
    rejected_total: int = _field(Kind.COUNT, default=0, required=False, inventory=True)
    sensor_errors_total: int = _field(Kind.COUNT, default=0, required=False, inventory=True)
    # keyed hashes (contract.identity) of the host name, asset tag and account, sent only when configured
    host_key: str | None = _field(Kind.TEXT, max_len=KEY_HEX, default=None, required=False, nullable=True, inventory=True)
    asset_key: str | None = _field(Kind.TEXT, max_len=KEY_HEX, default=None, required=False, nullable=True, inventory=True)
    account_key: str | None = _field(Kind.TEXT, max_len=KEY_HEX, default=None, required=False, nullable=True,
                                     inventory=True)
    details: dict[str, Any] = _field(Kind.DETAILS, default_factory=dict, required=False)
    id: str = _field(Kind.ID, default="")


@dataclass
class Feedback(_Record):
    """The employee's answer to the pulse about one measured disruption of the same device (contract.answers).

    Sent also when no answer came (``unanswered``), so that the collector knows how often people were asked.
    """

    time: float = _field(Kind.TIME)  # when the question was shown
    event_id: str = _field(Kind.ID)  # the disruption asked about: an event the same device sent
    answer: str = _field(Kind.CHOICE, choices=ANSWER_NAMES)
    id: str = _field(Kind.ID, default="")


# The pulse asks a device at most 10 times a local day, so one UTC day holds at most 20 honest answers of a device;
# the collector refuses more (collector/quota.py), so that no device weighs more than its employee.
MAX_ANSWERS_PER_DAY = 20
MIN_USAGE_INTERVAL_S = 900.0  # app time travels as totals over periods at least this long: never per minute


@dataclass
class Usage(_Record):
    """The employee's focused time in one catalogued application over one period (a total, no window title).

    Periods are aligned to the wall clock, so that every record of one period shares its ``start``; the collector
    counts at most ``interval_s`` of focus per device and period, whatever the records say.
    """

    start: float = _field(Kind.TIME)  # a multiple of interval_s (Unix time)
    interval_s: float = _field(Kind.SECONDS)  # at least MIN_USAGE_INTERVAL_S, and divides a day
    app: str = _field(Kind.TEXT, max_len=MAX_APP_LEN)
    focus_s: float = _field(Kind.SECONDS)  # at most interval_s
    id: str = _field(Kind.ID, default="")


def relation_problem(record: type, rec: dict[str, Any], correction: float = 0.0) -> tuple[str, str] | None:
    """``(field, problem)`` when a record's checked fields do not fit together, else None.

    The rules between fields that no field's own rule can say; the full check and the fast path both apply them
    to the record as read (times on the collector's clock, moved by ``correction``: see :func:`clock_correction`).
    (An event's end against the collector's clock is checked where the clock is known.) A usage period that fits
    is then put back on its period's boundaries of the collector's clock (:func:`realign`).
    """
    if record is Heartbeat and not active_within_interval(rec["active_s"], rec["interval_s"]):
        return "active_s", "larger than interval_s"
    if record is Event:
        problem = excess_problem(rec["details"], rec["duration_s"])
        return (f"details.{EXCESS_S}", problem) if problem else None
    if record is Usage:
        if rec["interval_s"] < MIN_USAGE_INTERVAL_S:
            return "interval_s", (f"shorter than {MIN_USAGE_INTERVAL_S:.0f} s: app time is sent as totals per "
                                  "period, never per minute")
        if 86400.0 % rec["interval_s"] or (rec["start"] + correction) % rec["interval_s"]:  # as the device sent it
            return "start", ("a period divides a day and starts on a multiple of its length (Unix time): "
                             "900, 1800, 3600 ... 86400 s, aligned to the clock")
        if not active_within_interval(rec["focus_s"], rec["interval_s"]):
            return "focus_s", "larger than interval_s"
    return None


def span(record: type, rec: dict[str, Any]) -> tuple[float, float]:
    """The time a checked record other than an event covers (events travel as columns: ``start + duration_s``): a
    heartbeat the interval it closes, a usage record its period, an answer its instant."""
    if record is Heartbeat:
        return rec["time"] - rec["interval_s"], rec["time"]
    if record is Usage:
        return rec["start"], rec["start"] + rec["interval_s"]
    return rec["time"], rec["time"]


def realign(record: type, rec: dict[str, Any]) -> None:
    """Put a usage period moved by a device's clock correction back on the nearest multiple of its length: periods
    are the clock's hours (or quarters, or days) on the collector too, each within one UTC day."""
    if record is Usage:
        rec["start"] = round(rec["start"] / rec["interval_s"]) * rec["interval_s"]


@dataclass(frozen=True)
class Section:
    """One list of records in a batch: its field, what one record is called, its class and its limit."""

    field: str  # the batch's field, e.g. "events"
    kind: str  # one record, in refusals and in the agent's spool, e.g. "event"
    record: type
    limit: str  # the Limits attribute bounding how many one batch holds

    @property
    def time_field(self) -> str:
        """The record's time field (its first TIME field), which places it on the clock."""
        return _time_field(self.record)


SECTIONS: tuple[Section, ...] = (
    Section("events", "event", Event, "max_events"),
    Section("heartbeats", "heartbeat", Heartbeat, "max_heartbeats"),
    Section("feedback", "feedback", Feedback, "max_feedback"),
    Section("usage", "usage", Usage, "max_usage"),
)
SECTION_OF_RECORD: dict[type, Section] = {s.record: s for s in SECTIONS}
IDENTITY_KEYS = ("host_key", "asset_key", "account_key")  # the heartbeat's keyed hashes (contract.identity)
EVENT_FIELDS: tuple[str, ...] = tuple(r.name for r in rules(Event))
HEARTBEAT_FIELDS: tuple[str, ...] = tuple(r.name for r in rules(Heartbeat))
INVENTORY: tuple[Rule, ...] = tuple(r for r in rules(Heartbeat) if r.inventory)
BATCH_FIELDS = ("schema", "device_id", "sent_at", *(s.field for s in SECTIONS))


def make_batch(device_id: str, events: list[dict], heartbeats: list[dict], now: float | None = None,
               **others: list[dict]) -> dict:
    """Wrap wire records (already in wire form) into a batch; ``others``: the other sections by field
    (``feedback=[...]``), present only when not empty, so that a batch without them suits an older collector."""
    batch = {
        "schema": SCHEMA_VERSION,
        "device_id": device_id,
        "sent_at": format_time(time.time() if now is None else now),
        "events": events,
        "heartbeats": heartbeats,
    }
    for name, records in others.items():
        if name not in BATCH_FIELDS[5:]:
            raise TypeError(f"make_batch: no section {name!r}")
        if records:
            batch[name] = records
    return batch
