"""ISO weeks: parsing ``YYYY-Www``, their bounds in a time zone, the last complete week."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo

from collector.report import ReportError

WEEK_PATTERN = r"^([0-9]{4})-W([0-9]{2})$"  # ASCII digits only, as the OpenAPI document (JSON Schema) reads it
# A report reads weeks before its own (the trend) and the days up to the next Monday, in any time zone: the years
# whose weeks all have dates (Python's 1-9999) with room to spare. No record is older than 1970.
MIN_YEAR, MAX_YEAR = 1970, 9998


def parse_week(text: str) -> date:
    """The Monday of ISO week ``YYYY-Www`` of a year from MIN_YEAR to MAX_YEAR; ReportError if not."""
    m = re.fullmatch(WEEK_PATTERN, text) if isinstance(text, str) else None  # fullmatch: no trailing newline either
    if not m:
        raise ReportError(f"week {_shown(text)}: expected an ISO week like 2026-W47")
    year, week = int(m.group(1)), int(m.group(2))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ReportError(f"week {text!r}: the year must be from {MIN_YEAR} to {MAX_YEAR}")
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ReportError(f"week {text!r}: year {year} has no week {week}") from None


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def week_label(monday: date) -> str:
    """``YYYY-Www`` for the ISO week starting on ``monday``."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(monday: date, zone: tzinfo = timezone.utc) -> tuple[float, float]:
    """Unix seconds of the week's start (Monday 00:00 in ``zone``) and end (the next Monday 00:00 there)."""
    start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
    end = start.replace(tzinfo=None) + timedelta(days=7)
    return start.timestamp(), end.replace(tzinfo=zone).timestamp()  # a week with a DST change is 167 or 169 h


def last_complete_week(now: datetime | None = None, zone: tzinfo = timezone.utc) -> str:
    """The most recent ISO week that has fully ended in ``zone``."""
    today = (now or datetime.now(timezone.utc)).astimezone(zone).date()
    this_monday = today - timedelta(days=today.weekday())
    return week_label(this_monday - timedelta(days=7))


def previous_weeks(monday: date, n: int) -> list[date]:
    """The Mondays of the ``n`` weeks before ``monday``, oldest first."""
    return [monday - timedelta(days=7 * k) for k in range(n, 0, -1)]
