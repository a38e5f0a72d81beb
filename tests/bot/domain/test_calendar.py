"""Working-time arithmetic at the edges: evenings, lunch, weekends, the 2026 holidays and their
make-up working days, and time zones. Expected moments were worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.calendar import WorkingCalendar, load_calendar

DATA = Path(__file__).resolve().parents[3] / "bot" / "domain" / "data" / "calendar_cn.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CN = load_calendar(DATA, "Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_friday_evening_plus_two_hours_is_monday_morning() -> None:
    due = CN.add_working_time(local(2026, 11, 20, 17, 30), 2)
    assert due == local(2026, 11, 23, 10, 30) and due.tzinfo is UTC


def test_lunch_does_not_count() -> None:
    assert CN.add_working_time(local(2026, 11, 18, 12, 30), 1) == local(2026, 11, 18, 14, 0)
    assert CN.add_working_time(local(2026, 11, 18, 11, 30), 1) == local(2026, 11, 18, 13, 30)


def test_a_start_on_a_holiday_begins_after_the_holiday() -> None:
    assert CN.add_working_time(local(2026, 10, 3, 10, 0), 1) == local(2026, 10, 8, 10, 0)


def test_spring_festival_2026_and_its_make_up_saturdays() -> None:
    assert CN.is_working_day(date(2026, 2, 14))  # Saturday, worked
    assert not any(CN.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert CN.is_working_day(date(2026, 2, 24))
    assert CN.is_working_day(date(2026, 2, 28))  # Saturday, worked
    # Friday 13th, 17:00 + 2 h: one hour on Friday, one on the make-up Saturday
    assert CN.add_working_time(local(2026, 2, 13, 17, 0), 2) == local(2026, 2, 14, 10, 0)


def test_working_days_across_national_day() -> None:
    start = local(2026, 9, 29, 15, 0)
    assert CN.add_working_days(start, 3) == local(2026, 10, 9, 18, 0)
    # the fourth is Saturday 10 October, a make-up working day; the fifth is Monday 12th
    assert CN.add_working_days(start, 4) == local(2026, 10, 10, 18, 0)
    assert CN.add_working_days(start, 5) == local(2026, 10, 12, 18, 0)


def test_whole_days_across_national_day_count_their_hours_once() -> None:
    # 30 Sept 10:00 leaves 7 h that day; 1-7 Oct are off; 8 and 9 Oct give 8 h each; the last
    # hour falls on Saturday 10 October, a make-up working day
    start = local(2026, 9, 30, 10, 0)
    assert CN.add_working_time(start, 24) == local(2026, 10, 10, 10, 0)
    assert CN.working_hours_between(start, local(2026, 10, 10, 10, 0)) == 24.0
    assert CN.working_hours_between(start, local(2026, 10, 9, 18, 0)) == 23.0
    # time that runs out exactly at a day's close ends there, not at the next morning
    assert CN.add_working_time(local(2026, 11, 18, 9, 0), 16) == local(2026, 11, 19, 18, 0)


@pytest.mark.parametrize("hours", [0.5, 8, 16, 40, 80, 200])
def test_hours_added_are_the_hours_between(hours: float) -> None:
    """Over a year of starts every 37 hours, across the holidays: the two agree."""
    for step in range(0, 24 * 365, 37):
        start = CN.next_working_moment(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=step))
        assert CN.working_hours_between(start, CN.add_working_time(start, hours)) == pytest.approx(hours)


def test_a_utc_evening_is_the_next_local_morning() -> None:
    moment = datetime(2026, 11, 19, 23, 0, tzinfo=UTC)  # Friday 07:00 in Shanghai
    assert CN.next_working_moment(moment) == datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    inside = local(2026, 11, 20, 10, 0)
    assert CN.next_working_moment(inside) == inside


def test_hours_between_skip_nights_and_weekends() -> None:
    assert CN.working_hours_between(local(2026, 11, 20, 17, 0), local(2026, 11, 23, 10, 0)) == 2.0
    assert CN.working_hours_between(local(2026, 11, 23, 10, 0), local(2026, 11, 20, 17, 0)) == 0.0


def test_a_zone_with_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = WorkingCalendar(berlin, frozenset(range(5)), ((time(9), time(17)),), frozenset(), frozenset())
    # Friday 27 March 2026 16:00 CET; clocks go forward on Sunday 29th
    due = cal.add_working_time(datetime(2026, 3, 27, 16, 0, tzinfo=berlin), 2)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # Monday 10:00 CEST


def test_an_unknown_key_is_refused_not_ignored(tmp_path: Path) -> None:
    bad = tmp_path / "cal.yaml"
    bad.write_text(
        'workdays: [mon]\nhours: ["09:00-12:00"]\nyears:\n  2026:\n    - {name: x, off: ["2026-01-01"]}\n'
    )
    with pytest.raises(ValueError, match="unknown keys"):
        load_calendar(bad, "UTC")


def test_bad_hours_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "cal.yaml"
    bad.write_text('workdays: [mon]\nhours: ["12:00-09:00"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="hours"):
        load_calendar(bad, "UTC")
