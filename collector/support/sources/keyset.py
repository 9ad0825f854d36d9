"""Reading the records changed since a time, page by page, without missing or doubling those changed in one second.

ITSMs sort by a modification time kept to the second (or to the millisecond,
with ties all the same), and records change while a poll pages through them,
so plain offsets shift under the reader and skip records. A :class:`Keyset`
asks each page for the records changed at or after the last whole second it
has read, from the first of them on, in a window that also covers the ones of
that second it has already read (which it drops), so a record moving later
meanwhile cannot push an unread one out of view: the moved record is read
again at its new time. Only when more records share one second than the
source answers at once does it fall back to skipping those already read by
offset. The cursor kept between polls is that second alone; the next poll
re-reads its records, which ``store_tickets`` leaves unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from collector.support.sources.base import parse_source_time, path_value
from collector.support.tickets import MAX_AHEAD_S

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
        try:
            since = parse_source_time(cursor)
        except ValueError:
            since = None
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
