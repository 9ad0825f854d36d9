"""The generic ticket record: the column set `hinder support import` and the webhook read (docs/support.md).

A record has the columns of :data:`COLUMNS`; only ``id`` and ``opened_at`` are
required, any other column is ignored (an ITSM export's summary or description
is never read). The caller and configuration item come either in clear
(``host``, ``asset``, ``account``), hashed here with the fleet's identity key
and then forgotten, or already hashed by the sender (``host_key`` ...). Records
are read from CSV (a header row, RFC 4180 quoting) or from JSON, an array of
objects or one object a line; the bytes are UTF-8, with or without a BOM.

:func:`read_tickets` never fails on a record: a record it cannot read, or that
:func:`collector.support.tickets.problem` refuses, is skipped and named with
its position (``row 7``, ``line 3``, ``item 2``) and reason. Only input that
is not a file of records at all (not UTF-8, not CSV, not JSON, too large)
raises :class:`FormatError`, before anything is stored.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import msgspec

from collector.support.config import SupportSettings
from collector.support.sources.base import parse_source_time
from collector.support.tickets import CHANNELS, Ticket, problem
from contract.identity import identity_key

COLUMNS = ("id", "opened_at", "updated_at", "resolved_at", "channel", "priority", "category", "work_stopping",
           "site", "department", "host", "asset", "account", "host_key", "asset_key", "account_key")
REQUIRED = ("id", "opened_at")
FORMATS = ("csv", "jsonl", "json")
MAX_VALUE_LEN = 1024  # characters of one value; the stored fields have their own, smaller bounds (tickets.problem)
MAX_RECORDS = 100_000  # records of one file or request
MAX_FILE_BYTES = 64_000_000
MAX_PROBLEMS = 20  # problems named one by one; the rest only counted
_NAMES = ("host", "asset", "account")

# How sources and people spell a contact channel (lowercase, '-', '_' and repeated spaces made one space).
CHANNEL_SYNONYMS: dict[str, str] = {
    **{c.replace("_", " "): c for c in CHANNELS},
    **dict.fromkeys(("telephone", "phone call", "call", "voice", "hotline", "callback", "voicemail"), "phone"),
    **dict.fromkeys(("e mail", "mail", "inbound email", "email to ticket"), "email"),
    **dict.fromkeys(("self service", "selfservice", "web", "web form", "webform", "service portal",
                     "self service portal", "customer portal", "help center", "form"), "portal"),
    **dict.fromkeys(("live chat", "virtual agent", "chatbot", "chat bot", "teams", "slack", "messaging", "im",
                     "instant message"), "chat"),
    **dict.fromkeys(("walkin", "walk up", "walkup", "in person", "tech bar", "techbar", "service desk visit",
                     "desk visit"), "walk_in"),
    **dict.fromkeys(("remote session", "remote support", "remote control", "remote assistance"), "remote"),
}
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}


@dataclass(frozen=True)
class Unreadable:
    """A record that could not be read at all, and why (what :func:`records` yields in its place)."""

    reason: str


class FormatError(ValueError):
    """The input is not a file of ticket records at all; nothing of it is stored."""


class TooManyRecords(FormatError):
    """The input holds more records than the reader takes at once."""


@dataclass
class Read:
    """The tickets read from one input, and the records skipped."""

    tickets: list[Ticket] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> records
    problems: list[tuple[str, str]] = field(default_factory=list)  # (where, reason), the first MAX_PROBLEMS
    ignored_columns: list[str] = field(default_factory=list)  # CSV header columns not in COLUMNS
    not_hashed: int = 0  # records naming a host, asset or account in clear with no identity key to hash it

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skip(self, where: str, reason: str) -> None:
        self.skipped[reason] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((where, reason))


def channel(value: str) -> str:
    """The channel a source value names (one of CHANNELS); ``other`` for an empty or unknown one."""
    key = " ".join(value.lower().replace("-", " ").replace("_", " ").split())
    return CHANNEL_SYNONYMS.get(key, "other")


def detect_format(data: bytes, filename: str = "") -> str:
    """``csv``, ``json`` or ``jsonl`` from the file name's ending, else from the first character."""
    lower = filename.lower()
    for ending, fmt in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json")):
        if lower.endswith(ending):
            return fmt
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if head == b"[" else "jsonl" if head == b"{" else "csv"


def records(data: bytes, fmt: str) -> Iterator[tuple[str, Any]]:
    """(where, record) for each record of ``data`` in format ``fmt``: a dict, anything else JSON held there, or
    :class:`Unreadable`; for CSV first ("header", the header's columns that are not in :data:`COLUMNS`)."""
    if len(data) > MAX_FILE_BYTES:
        raise FormatError(f"input of {len(data)} bytes is larger than the limit of {MAX_FILE_BYTES} bytes")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"input is not UTF-8 (byte {exc.start}): save it as UTF-8") from None
    if fmt == "csv":
        yield from _csv_records(text)
    elif fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield f"line {number}", msgspec.json.decode(line)
                except (msgspec.DecodeError, RecursionError):
                    yield f"line {number}", Unreadable("not valid JSON")
    elif fmt == "json":
        try:
            items = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise FormatError(f"input is not valid JSON: {exc}") from None
        except RecursionError:
            raise FormatError("input is nested too deeply to be a list of tickets") from None
        if not isinstance(items, list):
            raise FormatError("JSON input must be an array of ticket objects (or one object a line: JSON lines)")
        for number, item in enumerate(items, 1):
            yield f"item {number}", item
    else:
        raise FormatError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def _csv_records(text: str) -> Iterator[tuple[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FormatError(f"the CSV header (row 1) is not valid CSV: {exc}") from None
    if header is None:
        return
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise FormatError(f"the CSV header (row 1) has no {' or '.join(missing)} column; the columns are "
                          f"{', '.join(COLUMNS)}")
    duplicated = sorted({n for n in names if names.count(n) > 1 and n in COLUMNS})
    if duplicated:
        raise FormatError(f"the CSV header (row 1) names {duplicated[0]!r} twice")
    yield "header", [n for n in names if n and n not in COLUMNS]
    number = 1
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # the reader goes on at the next line
            yield f"row {number}", Unreadable(f"not valid CSV: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield f"row {number}", Unreadable(f"has {len(row)} fields, the header {len(names)}")
            continue
        yield f"row {number}", {n: v for n, v in zip(names, row) if n in COLUMNS}


def read_tickets(data: bytes, fmt: str, source: str, support: SupportSettings, secret: bytes | None,
                 now: float | None = None, max_records: int = MAX_RECORDS) -> Read:
    """The tickets of ``data`` (format ``fmt``: csv, json or jsonl), stamped with ``source``.

    ``secret`` is the fleet's identity key (None: names in clear are not hashed and the ticket is not joined).
    Raises :class:`FormatError` when ``data`` is not such a file, or holds more than ``max_records`` records.
    """
    now = time.time() if now is None else now
    out = Read()
    count = 0
    for where, record in records(data, fmt):
        if where == "header":
            out.ignored_columns = record
            continue
        count += 1  # unreadable ones too: a file of garbage is bounded like one of tickets
        if count > max_records:
            raise TooManyRecords(f"more than {max_records} records; split the input")
        if not isinstance(record, dict):
            out.skip(where, record.reason if isinstance(record, Unreadable) else "not an object with the ticket's columns")
            continue
        try:
            ticket, clear = to_ticket(record, source, support, secret)
        except (ValueError, TypeError, OverflowError) as exc:
            out.skip(where, str(exc))
            continue
        reason = problem(ticket, now)
        if reason:
            out.skip(where, reason)
            continue
        out.not_hashed += clear
        out.tickets.append(ticket)
    return out


def to_ticket(record: dict[str, Any], source: str, support: SupportSettings,
              secret: bytes | None) -> tuple[Ticket, bool]:
    """The ticket of one record and whether it named someone in clear that could not be hashed (no key).

    Raises ValueError naming the column that cannot be read.
    """
    get = {name: _value(record, name) for name in COLUMNS}
    if get["id"] in (None, ""):
        raise ValueError("no id")
    opened = _time(get, "opened_at")
    if opened is None:
        raise ValueError("no opened_at")
    priority, category = _text(get, "priority"), _text(get, "category")
    stopping = _flag(get["work_stopping"])
    keys: dict[str, str | None] = {}
    clear = False
    for kind in _NAMES:
        given, name = _text(get, f"{kind}_key").lower(), _text(get, kind)
        if given:
            keys[kind] = given
        elif name and secret is not None:
            keys[kind] = identity_key(secret, kind, name)
        else:
            keys[kind] = None
            clear |= bool(name)
    ticket = Ticket(
        source=source, ticket_id=_text(get, "id"), opened_at=opened, updated_at=_time(get, "updated_at") or opened,
        resolved_at=_time(get, "resolved_at"), channel=channel(_text(get, "channel")), priority=priority,
        category=category, work_stopping=support.work_stopping(priority, category) if stopping is None else stopping,
        site=_text(get, "site"), department=_text(get, "department"),
        host_key=keys["host"], asset_key=keys["asset"], account_key=keys["account"])
    return ticket, clear


def _value(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if isinstance(value, str) and len(value) > MAX_VALUE_LEN:
        raise ValueError(f"{name} is longer than {MAX_VALUE_LEN} characters")
    if isinstance(value, (dict, list)):
        raise ValueError(f"{name} must be a text, a number or empty, not a JSON {type(value).__name__}")
    return value


def _text(get: dict[str, Any], name: str) -> str:
    value = get[name]
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise ValueError(f"{name} must be a text, not true or false")
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a text")
    text = str(value).strip()
    if len(text) > MAX_VALUE_LEN:
        raise ValueError(f"{name} is longer than {MAX_VALUE_LEN} characters")
    return text


def _time(get: dict[str, Any], name: str) -> float | None:
    try:
        return parse_source_time(get[name])
    except ValueError:
        raise ValueError(f"{name} is not a time: give ISO 8601 (2026-11-30T09:12:00Z) or Unix seconds") from None


def _flag(value: Any) -> bool | None:
    """work_stopping as given (true/false, yes/no, 1/0), or None when empty: the [support] mapping decides."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("work_stopping must be true or false (or empty: from the priority and category)")
