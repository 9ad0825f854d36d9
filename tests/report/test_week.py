"""ISO weeks: parsing, bounds in UTC, the last complete week."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from collector.report import ReportError
from collector.report.week import last_complete_week, parse_week, previous_weeks, week_bounds, week_label


def test_parse_and_bounds():
    monday = parse_week("2026-W47")
    assert monday == date(2026, 11, 16)
    start, end = week_bounds(monday)
    assert datetime.fromtimestamp(start, timezone.utc) == datetime(2026, 11, 16, tzinfo=timezone.utc)
    assert end - start == 7 * 86400
    assert week_label(parse_week("2020-W53")) == "2020-W53"
    assert previous_weeks(monday, 2) == [date(2026, 11, 2), date(2026, 11, 9)]


@pytest.mark.parametrize("text", ["2026-47", "2026-W7", "W47", "", "2026-W54", "2026-W00", "2026-W47\n",
                                  "\u0662\u0660\u0662\u0666-W47", "0001-W01", "1969-W52", "9999-W52", None, 2026])
def test_bad_weeks_are_refused(text):
    with pytest.raises(ReportError, match="week"):
        parse_week(text)


def test_the_first_and_last_weeks_a_report_can_cover():
    """A report also reads the weeks before its own (the trend) and the days up to the next Monday."""
    for text in ("1970-W01", "9998-W52"):
        monday = parse_week(text)
        start, end = week_bounds(monday)  # a time for each end of the week, no OverflowError
        assert end - start == 7 * 86400 and week_label(monday) == text
        assert [week_label(m) for m in previous_weeks(monday, 4)][-1] == week_label(monday - timedelta(days=7))


def test_last_complete_week():
    assert last_complete_week(datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)) == "2026-W47"  # Monday
    assert last_complete_week(datetime(2026, 11, 22, 23, 59, tzinfo=timezone.utc)) == "2026-W46"  # Sunday
    assert last_complete_week(datetime(2027, 1, 4, 8, tzinfo=timezone.utc)) == "2026-W53"


def test_weeks_in_a_time_zone_follow_its_midnights_and_daylight_saving():
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    start, end = week_bounds(date(2026, 11, 16), paris)
    assert (start, end) == (datetime(2026, 11, 15, 23, tzinfo=timezone.utc).timestamp(),
                            datetime(2026, 11, 22, 23, tzinfo=timezone.utc).timestamp())
    start, end = week_bounds(date(2026, 3, 23), paris)  # summer time begins on Sunday 29 March
    assert (end - start) / 3600 == 167
    sunday_night_utc = datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc)  # already Monday in Paris
    assert last_complete_week(sunday_night_utc) == "2026-W46"
    assert last_complete_week(sunday_night_utc, paris) == "2026-W47"
