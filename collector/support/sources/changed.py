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
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import httpx

from collector.support.sources.base import SourceDown, parse_source_time, path_value

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


def cursor_text(value: float) -> str:
    """A cursor for a time (ISO 8601 UTC, milliseconds)."""
    return datetime.fromtimestamp(value, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def json_of(response: httpx.Response, kind: type, source: str, what: str) -> Any:
    """The JSON body of a response if it is of ``kind`` (list or dict); SourceDown naming the source otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, kind):
        raise SourceDown(f"{source}: unexpected answer to {what} (not a JSON {kind.__name__})")
    return body
