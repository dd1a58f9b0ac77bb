"""Business-time maths (core.business_time): pure, no database. Times are Europe/Warsaw unless they say otherwise."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.business_time import (
    Calendar,
    CalendarNeverOpens,
    add_business_minutes,
    business_minutes_between,
    country_holidays,
    is_open,
    next_opening,
)

WARSAW = ZoneInfo("Europe/Warsaw")


def at(y, m, d, hh=0, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=WARSAW)


@pytest.fixture(scope="module")
def office() -> Calendar:
    """The TechPol office: Monday-Friday 08:00-16:00, Polish public holidays."""
    return Calendar.from_data(time_zone="Europe/Warsaw", opening_hours=[(d, time(8), time(16)) for d in range(5)], holidays_country="PL")


# --- The demo's examples ----------------------------------------------------------------------------------


def test_demo_request_on_a_working_tuesday_morning_is_due_15_minutes_later(office):
    assert add_business_minutes(office, at(2026, 11, 17, 10), 15) == at(2026, 11, 17, 10, 15)


def test_demo_request_on_friday_evening_is_due_monday_at_0815(office):
    due = add_business_minutes(office, at(2026, 11, 20, 17, 30), 15)
    assert due == at(2026, 11, 23, 8, 15)
    assert due.weekday() == 0


def test_result_is_given_in_the_calendars_time_zone(office):
    due = add_business_minutes(office, datetime(2026, 11, 17, 9, 0, tzinfo=UTC), 15)
    assert due.tzinfo == WARSAW
    assert (due.hour, due.minute) == (10, 15)


def test_clock_runs_up_to_the_closing_moment_and_not_past_it(office):
    assert add_business_minutes(office, at(2026, 11, 17, 15, 45), 15) == at(2026, 11, 17, 16, 0)
    assert add_business_minutes(office, at(2026, 11, 17, 15, 45), 16) == at(2026, 11, 18, 8, 1)


def test_weekend_pauses_the_clock(office):
    assert add_business_minutes(office, at(2026, 11, 20, 15, 0), 120) == at(2026, 11, 23, 9, 0)
    assert add_business_minutes(office, at(2026, 11, 21, 12, 0), 15) == at(2026, 11, 23, 8, 15)
    assert business_minutes_between(office, at(2026, 11, 20, 16, 0), at(2026, 11, 23, 8, 0)) == 0


def test_independence_day_is_not_a_business_day(office):
    # Tuesday 10 November 15:50 + 15 min: 10 min on Tuesday, Wednesday 11 November is a public holiday.
    assert add_business_minutes(office, at(2026, 11, 10, 15, 50), 15) == at(2026, 11, 12, 8, 5)
    assert not is_open(office, at(2026, 11, 11, 10, 0))
    assert business_minutes_between(office, at(2026, 11, 11, 0, 0), at(2026, 11, 12, 0, 0)) == 0


def test_christmas_and_new_year_holidays_are_skipped_across_the_year_boundary(office):
    # Wed 23 Dec 15:00 + 120: 60 min that day; 24, 25 Dec closed (Christmas Eve is a Polish holiday from 2025),
    # 26-27 weekend... Monday 28 Dec 08:00 + 60 = 09:00.
    assert add_business_minutes(office, at(2026, 12, 23, 15, 0), 120) == at(2026, 12, 28, 9, 0)
    # Thu 31 Dec 15:30 + 60: 30 min, 1 Jan holiday, weekend, Monday 4 Jan 08:30.
    assert add_business_minutes(office, at(2026, 12, 31, 15, 30), 60) == at(2027, 1, 4, 8, 30)


def test_country_holidays_are_loaded_per_year_on_demand():
    pl = country_holidays("pl")
    assert pl is country_holidays("PL")
    assert date(2031, 11, 11) in pl
    assert date(2031, 11, 12) not in pl
    assert "Independence" in pl.name(date(2031, 11, 11))


def test_unknown_holiday_country_is_refused():
    with pytest.raises(ValueError, match="XX"):
        country_holidays("XX")


# --- DST (Europe/Warsaw: last Sunday of March 02:00 -> 03:00, last Sunday of October 03:00 -> 02:00) ------


def test_weekend_with_spring_dst_change_costs_no_business_time(office):
    # Friday 27 March 2026 is CET (+01:00), Monday 30 March is CEST (+02:00).
    due = add_business_minutes(office, at(2026, 3, 27, 15, 0), 120)
    assert due == at(2026, 3, 30, 9, 0)
    assert due.utcoffset() == timedelta(hours=2)
    assert business_minutes_between(office, at(2026, 3, 27, 15, 0), at(2026, 3, 30, 9, 0)) == 120


def test_weekend_with_autumn_dst_change_costs_no_business_time(office):
    due = add_business_minutes(office, at(2026, 10, 23, 15, 0), 120)
    assert due == at(2026, 10, 26, 9, 0)
    assert due.utcoffset() == timedelta(hours=1)
    assert business_minutes_between(office, at(2026, 10, 23, 15, 0), at(2026, 10, 26, 9, 0)) == 120


@pytest.fixture(scope="module")
def night_shift() -> Calendar:
    """Open every day 01:00-04:00 local: the range spans the DST change on its Sundays."""
    return Calendar(time_zone="Europe/Warsaw", weekly={d: [(time(1), time(4))] for d in range(7)})


def test_opening_range_spanning_the_spring_change_is_one_hour_shorter(night_shift):
    assert business_minutes_between(night_shift, at(2026, 3, 29, 0), at(2026, 3, 29, 12)) == 120
    assert business_minutes_between(night_shift, at(2026, 3, 28, 0), at(2026, 3, 28, 12)) == 180
    # 01:00 CET + 90 real minutes: 01:00 UTC+1 = 00:00 UTC, +90 min = 01:30 UTC = 03:30 CEST.
    assert add_business_minutes(night_shift, at(2026, 3, 29, 1), 90) == at(2026, 3, 29, 3, 30)


def test_opening_range_spanning_the_autumn_change_is_one_hour_longer(night_shift):
    assert business_minutes_between(night_shift, at(2026, 10, 25, 0), at(2026, 10, 25, 12)) == 240
    # 01:00 CEST = 23:00 UTC; +150 real minutes = 01:30 UTC = 02:30 CET (the second 02:30 of the night).
    due = add_business_minutes(night_shift, at(2026, 10, 25, 1), 150)
    assert due.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert due.utcoffset() == timedelta(hours=1)


def test_opening_times_skipped_by_the_spring_change_move_forward_by_the_gap():
    """Wall times that do not exist (02:00-03:00 on the spring night) read as in winter: 02:15 is 03:15 CEST."""
    cal = Calendar(time_zone="Europe/Warsaw", weekly={6: [(time(2, 15), time(2, 45))]})
    ((opens, closes),) = cal.intervals_on(date(2026, 3, 29))
    assert (opens, closes) == (at(2026, 3, 29, 3, 15), at(2026, 3, 29, 3, 45))
    assert opens.astimezone(WARSAW).utcoffset() == timedelta(hours=2)
    # 02:30-03:30: the opening moment moves to 03:30, so that Sunday has no opening at all.
    cal = Calendar(time_zone="Europe/Warsaw", weekly={6: [(time(2, 30), time(3, 30))]})
    assert cal.intervals_on(date(2026, 3, 29)) == ()
    assert add_business_minutes(cal, at(2026, 3, 28, 12), 10) == at(2026, 4, 5, 2, 40)


# --- Several ranges a day, the manager's own days ------------------------------------------------------------


@pytest.fixture(scope="module")
def split_day() -> Calendar:
    """Monday-Friday 08:00-12:00 and 13:00-17:00 (lunch closed), Saturday 09:00-11:00; Polish holidays;
    closed Friday 13 November 2026; extra open Sunday 15 November 10:00-12:00 and on 11 November (usual hours)."""
    weekly = {d: [(time(13), time(17)), (time(8), time(12))] for d in range(5)}
    weekly[5] = [(time(9), time(11))]
    return Calendar(
        time_zone="Europe/Warsaw",
        weekly=weekly,
        holidays=country_holidays("PL"),
        closed={date(2026, 11, 13)},
        extra_open={date(2026, 11, 15): [(time(10), time(12))], date(2026, 11, 11): []},
    )


def test_lunch_break_pauses_the_clock(split_day):
    assert add_business_minutes(split_day, at(2026, 11, 17, 11, 50), 20) == at(2026, 11, 17, 13, 10)
    assert not is_open(split_day, at(2026, 11, 17, 12, 30))
    assert next_opening(split_day, at(2026, 11, 17, 12, 30)) == at(2026, 11, 17, 13, 0)
    assert business_minutes_between(split_day, at(2026, 11, 17, 7, 0), at(2026, 11, 17, 18, 0)) == 480


def test_saturday_hours_count(split_day):
    assert add_business_minutes(split_day, at(2026, 11, 20, 16, 50), 30) == at(2026, 11, 21, 9, 20)


def test_manager_closed_day_and_extra_open_days(split_day):
    # Thursday 12 Nov 16:30 + 60: 30 min Thursday; Friday 13 closed; Saturday 14 09:00 + 30.
    assert add_business_minutes(split_day, at(2026, 11, 12, 16, 30), 60) == at(2026, 11, 14, 9, 30)
    # Saturday 14 Nov 10:30 + 60: 30 min Saturday; Sunday 15 is an extra open day from 10:00.
    assert add_business_minutes(split_day, at(2026, 11, 14, 10, 30), 60) == at(2026, 11, 15, 10, 30)
    # 11 November is a public holiday, but the manager opened the office with the usual Wednesday hours.
    assert is_open(split_day, at(2026, 11, 11, 9, 0))
    assert split_day.ranges_on(date(2026, 11, 11)) == ((time(8), time(12)), (time(13), time(17)))


def test_overlapping_ranges_are_merged():
    cal = Calendar(time_zone="Europe/Warsaw", weekly={0: [(time(8), time(12)), (time(10), time(14)), (time(14), time(15))]})
    assert cal.intervals_on(date(2026, 11, 16)) == ((at(2026, 11, 16, 8).astimezone(UTC), at(2026, 11, 16, 15).astimezone(UTC)),)
    assert business_minutes_between(cal, at(2026, 11, 16), at(2026, 11, 17)) == 420


# --- is_open / next_opening / between edges ------------------------------------------------------------------


def test_opening_hours_are_half_open(office):
    assert is_open(office, at(2026, 11, 17, 8, 0))
    assert is_open(office, at(2026, 11, 17, 15, 59, 59))
    assert not is_open(office, at(2026, 11, 17, 16, 0))
    assert not is_open(office, at(2026, 11, 17, 7, 59, 59))


def test_next_opening_is_now_when_open_else_the_next_morning(office):
    assert next_opening(office, at(2026, 11, 17, 10, 0)) == at(2026, 11, 17, 10, 0)
    assert next_opening(office, at(2026, 11, 17, 16, 0)) == at(2026, 11, 18, 8, 0)
    assert next_opening(office, at(2026, 11, 20, 17, 30)) == at(2026, 11, 23, 8, 0)
    assert next_opening(office, at(2026, 11, 10, 18, 0)) == at(2026, 11, 12, 8, 0)


def test_business_minutes_between_counts_fractions_and_sign(office):
    assert business_minutes_between(office, at(2026, 11, 17, 10, 0), at(2026, 11, 17, 10, 0, 30)) == 0.5
    assert business_minutes_between(office, at(2026, 11, 17, 10, 15), at(2026, 11, 17, 10, 0)) == -15
    assert business_minutes_between(office, at(2026, 11, 16), at(2026, 11, 23)) == 5 * 480


def test_cost_grows_with_days_not_minutes(office, monkeypatch):
    """A year of business time is a walk over ~365 days, not over 130 000 minutes."""
    calls = 0
    original = Calendar.intervals_on

    def counting(self, day):
        nonlocal calls
        calls += 1
        return original(self, day)

    monkeypatch.setattr(Calendar, "intervals_on", counting)
    due = add_business_minutes(office, at(2026, 1, 2, 8), 270 * 480)
    assert due.year == 2027
    assert calls <= (due.date() - date(2026, 1, 2)).days + 1


def test_naive_datetimes_are_refused(office):
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(office, datetime(2026, 11, 17, 10), 15)
    with pytest.raises(ValueError, match="aware"):
        is_open(office, datetime(2026, 11, 17, 10))


def test_negative_minutes_are_refused(office):
    with pytest.raises(ValueError):
        add_business_minutes(office, at(2026, 11, 17, 10), -1)


def test_calendar_without_opening_hours_fails_loudly_instead_of_looping():
    with pytest.raises(CalendarNeverOpens):
        add_business_minutes(Calendar(time_zone="Europe/Warsaw", weekly={}), at(2026, 11, 17, 10), 15)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"time_zone": "Mars/Olympus", "weekly": {}},
        {"time_zone": "Europe/Warsaw", "weekly": {7: [(time(8), time(16))]}},
        {"time_zone": "Europe/Warsaw", "weekly": {0: [(time(16), time(8))]}},
    ],
    ids=["unknown time zone", "weekday out of range", "closes before it opens"],
)
def test_bad_calendar_data_is_refused(kwargs):
    with pytest.raises(ValueError):
        Calendar(**kwargs)


# --- Properties ------------------------------------------------------------------------------------------------

# Sunday night opening hours cover both DST changes; Polish holidays, a closed and an extra open day too.
_PROPERTY_CAL = Calendar(
    time_zone="Europe/Warsaw",
    weekly={**{d: [(time(8), time(12)), (time(12, 30), time(16))] for d in range(5)}, 5: [(time(9), time(11))], 6: [(time(1), time(4))]},
    holidays=country_holidays("PL"),
    closed={date(2026, 11, 13)},
    extra_open={date(2026, 11, 15): [(time(10), time(12))]},
)

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
minutes = st.integers(min_value=0, max_value=5 * 480)


@settings(deadline=None)  # a loaded CI machine must not turn a slow example into a failure
@given(start=instants, n=minutes)
def test_property_adding_then_measuring_gives_back_n(start, n):
    assert business_minutes_between(_PROPERTY_CAL, start, add_business_minutes(_PROPERTY_CAL, start, n)) == n


# Ordered as UTC instants: two wall times of one zone compare by wall clock and ignore `fold` (PEP 495), so in the
# repeated autumn hour 02:01 (first pass) would look later than 02:00 (second pass), an hour after it.
@settings(deadline=None)  # a loaded CI machine must not turn a slow example into a failure
@given(start=instants, n1=minutes, n2=minutes)
@example(start=datetime(2027, 10, 29, 14, 0, tzinfo=UTC), n1=181, n2=240)  # both end in the repeated hour
def test_property_more_minutes_never_gives_an_earlier_moment(start, n1, n2):
    n1, n2 = sorted((n1, n2))
    assert add_business_minutes(_PROPERTY_CAL, start, n1).astimezone(UTC) <= add_business_minutes(_PROPERTY_CAL, start, n2).astimezone(UTC)


@settings(deadline=None)  # a loaded CI machine must not turn a slow example into a failure
@given(s1=instants, s2=instants, n=minutes)
def test_property_later_start_never_gives_an_earlier_moment(s1, s2, n):
    s1, s2 = sorted((s1, s2))
    assert add_business_minutes(_PROPERTY_CAL, s1, n).astimezone(UTC) <= add_business_minutes(_PROPERTY_CAL, s2, n).astimezone(UTC)


@settings(deadline=None)  # a loaded CI machine must not turn a slow example into a failure
@given(start=instants, n=minutes)
def test_property_result_is_never_inside_a_closed_period(start, n):
    result = add_business_minutes(_PROPERTY_CAL, start, n)
    intervals = _PROPERTY_CAL.intervals_on(_PROPERTY_CAL.local_date(result))
    if n == 0:
        assert is_open(_PROPERTY_CAL, result)
    else:  # inside an opening interval, or exactly at its closing moment
        assert any(opens < result <= closes for opens, closes in intervals)
    assert result >= start


@settings(deadline=None)  # a loaded CI machine must not turn a slow example into a failure
@given(a=instants, b=instants, c=instants)
def test_property_measuring_is_additive(a, b, c):
    a, b, c = sorted((a, b, c))
    ab, bc, ac = (business_minutes_between(_PROPERTY_CAL, x, y) for x, y in ((a, b), (b, c), (a, c)))
    assert ab + bc == pytest.approx(ac, abs=1e-6)
    assert ab >= 0


@settings(max_examples=60, deadline=None)
@example(start=datetime(2026, 10, 24, 9, 0, tzinfo=UTC), n=60)  # ends in the repeated hour of the autumn DST change
@given(start=instants.map(lambda d: d.replace(second=0, microsecond=0)), n=st.integers(min_value=1, max_value=600))
def test_property_matches_a_minute_by_minute_count(start, n):
    """Against an independent oracle: step one real minute at a time, counting the open ones."""
    t, counted = start, 0
    while counted < n:
        if is_open(_PROPERTY_CAL, t):
            counted += 1
        t += timedelta(minutes=1)
    # Compared as UTC instants: PEP 495 makes `==` between zones False for a wall time in the repeated autumn
    # hour (02:00 on 2026-10-25 is two instants), even when both sides are the same instant.
    assert add_business_minutes(_PROPERTY_CAL, start, n).astimezone(UTC) == t
