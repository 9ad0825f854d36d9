"""Parse TeamViewer's ``Connections_incoming.txt``: one finished incoming session per line.

TeamViewer (full version, installed) appends a tab-separated line to this file
in its program folder when an incoming session ends: the partner's TeamViewer
ID, its display name, the start and the end (``DD-MM-YYYY HH:MM:SS``, UTC),
the local user, the connection type (``RemoteControl``, ``FileTransfer``...)
and a connection id. Only the two times and the type are read; the IDs, names
and user never leave this module. Pure parsing, tested on a fixture.
"""

from __future__ import annotations

import calendar
import re
import time

_STAMP = r"(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})"
_LINE = re.compile(rf"\t{_STAMP}\t{_STAMP}\t[^\t]*\t([A-Za-z]{{1,32}})\t")


def session_times(line: str) -> tuple[float, float, str] | None:
    """(start, end, connection type) of one line, in Unix seconds; None for a line that is not a session."""
    m = _LINE.search(line)
    if not m:
        return None
    try:
        start, end = (_utc(m.groups()[i:i + 6]) for i in (0, 6))
    except ValueError:
        return None
    return (start, end, m.group(13)) if end >= start else None


def _utc(fields: tuple[str, ...]) -> float:
    day, month, year, hour, minute, second = map(int, fields)
    parsed = time.strptime(f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}",
                           "%Y-%m-%d %H:%M:%S")  # checks the ranges (no 31 April, no hour 25)
    return float(calendar.timegm(parsed))
