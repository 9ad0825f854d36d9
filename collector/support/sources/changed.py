"""Reading "the records changed since the cursor" from a source that filters and sorts by modification time.

The cursor of these connectors is the newest modification time read so far
(ISO 8601, UTC). A poll asks for the records changed since the cursor less an
overlap (the source's filter precision, its search index's delay, clock skew):
records read twice are stored once, so the overlap costs nothing but a few
records. A time ahead of the collector's clock never moves the cursor (it would
hide the tickets changed until then).

:func:`keyset` pages through an ascending search by moving the lower bound up
to the newest time of each page, and uses the source's own next page only
while a whole page shares one time: a record changed during the poll moves to
the end of the result, where it is read again, instead of shifting the pages
and hiding another record. A record read again unchanged in the same poll (at
the bound) is passed on once.

:class:`Keyset` does the same for a source that pages by offset within a
filter on whole seconds (TOPdesk, ServiceNow): each request asks for the
records changed at or after the last whole second read, from the first of
them on, in a window that also covers those of that second already read
(dropped), so a record that moves later meanwhile cannot push an unread one
out of view. Only when more records share one second than the source answers
at once does it skip those already read by offset.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from collector.support.sources.base import parse_source_time, path_value
from collector.support.tickets import MAX_AHEAD_S
from contract.records import format_time

MAX_PAGES = 10_000  # per poll: a source answering the same page forever stops here; the next poll goes on


def cursor_time(cursor: str | None) -> float | None:
    """The time a cursor stands for (None: no cursor, or one this module did not write)."""
    try:
        return parse_source_time(cursor)
    except ValueError:
        return None


def start_time(cursor: str | None, now: float, since_days: float, overlap_s: float) -> float:
    """The lower bound of a poll: the cursor less the overlap, or ``since_days`` before ``now`` without a cursor."""
    value = cursor_time(cursor)
    return now - since_days * 86400.0 if value is None else value - overlap_s


cursor_text = format_time  # a cursor for a time: the contract's RFC 3339 UTC with milliseconds


def record_time(record: Any, path: str, now: float) -> float | None:
    """A record's modification time at ``path`` if it is readable and not ahead of ``now``, else None."""
    try:
        value = parse_source_time(path_value(record, path))
    except ValueError:
        return None
    return value if value is not None and value <= now else None


def newest(times: list[float | None], before: float | None) -> float | None:
    """The newest of ``times`` and ``before`` (None ignored)."""
    return max((t for t in (*times, before) if t is not None), default=None)


def keyset(fetch: Callable[[float, Any], tuple[list, Any]], start: float, step_s: float,
           time_of: Callable[[Any], float | None]) -> Iterator[tuple[list, float | None]]:
    """Pages of an ascending search by modification time: yields (records, newest time read so far).

    ``fetch(bound, token)`` returns the records changed at or after ``bound``
    (token None: the first page) and the token of the next page (None: last
    page). ``step_s`` is the precision of the source's filter (60 for minutes).
    """
    bound, token, seen, read = start, None, None, set()
    for _ in range(MAX_PAGES):
        records, next_token = fetch(bound, token)
        times = [time_of(r) for r in records]
        top = newest(times, None)
        seen = newest([top], seen)
        digests = [hashlib.blake2b(json.dumps(r, sort_keys=True, default=str).encode(), digest_size=16).digest()
                   for r in records]
        yield [r for r, d in zip(records, digests) if d not in read], seen
        read.update(digests)
        if next_token is None or not records:
            return
        if top is not None and math.floor(top / step_s) > math.floor(bound / step_s):
            bound, token = top, None
        else:
            token = next_token


MAX_WINDOW = 10_000  # records a source answers at most per request (TOPdesk's pageSize, ServiceNow's sysparm_limit)


@dataclass
class Keyset:
    """Where a poll stands: records changed at or after ``since`` (Unix seconds, whole) are left to read, except
    those of that very second in ``seen`` (their ids)."""

    since: int
    now: float
    seen: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, cursor: str | None, now: float, since_days: float) -> Keyset:
        """From a stored cursor (an ISO 8601 UTC time), or ``since_days`` before ``now`` when there is none or it
        cannot be read."""
        since = cursor_time(cursor)
        if since is None or not math.isfinite(since) or since > now + MAX_AHEAD_S:
            since = now - since_days * 86400.0
        return cls(math.floor(since), now)

    def window(self, page_size: int) -> tuple[int, int]:
        """(offset, count) of the next request among the records changed at or after ``since``."""
        if len(self.seen) + page_size <= MAX_WINDOW:
            return 0, len(self.seen) + page_size
        return len(self.seen), page_size

    def fresh(self, records: list[Any], time_path: str, id_path: str) -> list[Any]:
        """The records of a page (in the source's order) not read before in this poll; moves ``since`` on."""
        out = []
        for record in records:
            try:
                changed = parse_source_time(path_value(record, time_path))
            except ValueError:
                changed = None
            ident = path_value(record, id_path)
            ident = str(ident) if isinstance(ident, (str, int)) else None  # None: the record will be refused
            later = (changed is not None and math.isfinite(changed) and changed <= self.now + MAX_AHEAD_S
                     and math.floor(changed) > self.since)
            if later:
                self.since, self.seen = math.floor(changed), set()
            elif ident in self.seen:  # read before, at this second (or without a readable time)
                continue
            if ident is not None:
                self.seen.add(ident)
            out.append(record)
        return out

    def cursor(self) -> str:
        """The cursor to keep once the records read so far are stored: ``since`` as ISO 8601 UTC."""
        return self.moment().strftime("%Y-%m-%dT%H:%M:%SZ")

    def moment(self) -> datetime:
        """``since`` as an aware UTC datetime, for the source's own query syntax."""
        return datetime.fromtimestamp(self.since, tz=timezone.utc)
