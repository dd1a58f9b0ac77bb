"""Business-time maths: when the SLA clock runs, and how far it has run. Pure: plain data in, plain data out.

A `Calendar` is weekly opening hours (several ranges a day allowed) in a time zone, minus public holidays
and the manager's closed days, plus extra open days. Every function walks day by day over the opening
intervals, so the cost grows with the number of days spanned, never with the number of minutes.

Opening hours are local wall-clock times; each date's ranges are turned into instants with zoneinfo *for
that date*, and all arithmetic is done in UTC. So a business minute is a real minute: on the night the
clocks change an opening range spanning 02:00-03:00 lasts 0 (spring) or 2 (autumn) real hours, and an
ordinary 08:00-16:00 day lasts 8 hours on both sides of the change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

Range = tuple[time, time]
Interval = tuple[datetime, datetime]  # [opens, closes) as aware UTC instants

# A calendar closed for this many days in a row is treated as never opening (a mistake, not a long wait).
MAX_CLOSED_DAYS = 3 * 366
_DAY_CACHE_LIMIT = 4096
_MINUTE = timedelta(minutes=1)


class CalendarNeverOpens(ValueError):
    """The calendar has no opening hours within MAX_CLOSED_DAYS of the moment asked about."""


class CountryHolidays:
    """Public holidays of one country, computed lazily one year at a time and kept (they never change)."""

    def __init__(self, country: str, subdivision: str | None = None) -> None:
        country = country.upper()
        if country not in holidays_lib.list_supported_countries():
            raise ValueError(f"no public holidays known for country {country!r}")
        self.country = country
        self.subdivision = subdivision
        self._years: dict[int, frozenset[date]] = {}
        self._names: dict[date, str] = {}
        self._lock = threading.Lock()

    def _year(self, year: int) -> frozenset[date]:
        days = self._years.get(year)
        if days is None:
            with self._lock:
                days = self._years.get(year)
                if days is None:
                    found = holidays_lib.country_holidays(self.country, subdiv=self.subdivision, years=year)
                    self._names.update(found)
                    days = self._years[year] = frozenset(found)
        return days

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day in self._year(day.year)

    def name(self, day: date) -> str:
        return self._names.get(day, "") if day in self else ""

    def __repr__(self) -> str:
        return f"CountryHolidays({self.country!r})"


_COUNTRY_HOLIDAYS: dict[tuple[str, str | None], CountryHolidays] = {}


def country_holidays(country: str, subdivision: str | None = None) -> CountryHolidays:
    """Shared per country: the holidays of a year are computed once per process."""
    key = (country.upper(), subdivision)
    found = _COUNTRY_HOLIDAYS.get(key)
    if found is None:
        found = _COUNTRY_HOLIDAYS.setdefault(key, CountryHolidays(country, subdivision))
    return found


def _ranges(raw: Iterable[Range]) -> tuple[Range, ...]:
    out = []
    for opens, closes in raw:
        if not (isinstance(opens, time) and isinstance(closes, time)):
            raise TypeError(f"opening range must be two datetime.time values, got {opens!r}-{closes!r}")
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError("opening times are local wall-clock times: no tzinfo")
        if closes <= opens:
            raise ValueError(f"opening range {opens:%H:%M}-{closes:%H:%M} closes before it opens")
        out.append((opens, closes))
    return tuple(sorted(out))


@dataclass(frozen=True, eq=False)
class Calendar:
    """When the clock runs. `holidays` is a container of dates (a set, `CountryHolidays`) or a predicate.

    Precedence for a date: a closed day; else an extra open day (its own ranges, or the weekday's usual
    ranges when given none — e.g. working on a public holiday); else a public holiday (closed); else the
    weekday's ranges.
    """

    time_zone: str
    weekly: Mapping[int, Iterable[Range]]
    holidays: Container[date] | Callable[[date], bool] = frozenset()
    closed: Iterable[date] = frozenset()
    extra_open: Mapping[date, Iterable[Range]] = field(default_factory=dict)
    _zone: ZoneInfo = field(init=False, repr=False)
    _is_holiday: Callable[[date], bool] = field(init=False, repr=False)
    _days: dict[date, tuple[Interval, ...]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from exc
        weekly = {}
        for weekday, ranges in self.weekly.items():
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
            weekly[weekday] = weekly.get(weekday, ()) + _ranges(ranges)
        holidays = self.holidays
        is_holiday = holidays if callable(holidays) and not isinstance(holidays, Container) else holidays.__contains__
        set_ = object.__setattr__
        set_(self, "_zone", zone)
        set_(self, "weekly", {d: tuple(sorted(weekly.get(d, ()))) for d in range(7)})
        set_(self, "closed", frozenset(self.closed))
        set_(self, "extra_open", {day: _ranges(ranges) for day, ranges in self.extra_open.items()})
        set_(self, "_is_holiday", is_holiday)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def ranges_on(self, day: date) -> tuple[Range, ...]:
        """Local opening ranges of a date, after holidays and the manager's own days."""
        if day in self.closed:
            return ()
        if day in self.extra_open:
            return self.extra_open[day] or self.weekly[day.weekday()]
        if self._is_holiday(day):
            return ()
        return self.weekly[day.weekday()]

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The date's opening ranges as sorted, merged [opens, closes) UTC instants."""
        found = self._days.get(day)
        if found is not None:
            return found
        spans = []
        for opens, closes in self.ranges_on(day):
            # fold=0 (PEP 495): a wall time skipped in spring reads with the winter offset, i.e. moves forward by
            # the gap (02:30 is 03:30 CEST), and a repeated autumn hour means its first pass.
            start = datetime.combine(day, opens, self._zone).astimezone(UTC)
            end = datetime.combine(day, closes, self._zone).astimezone(UTC)
            if end > start:  # e.g. 02:30-03:30 on the spring night: 02:30 moves to 03:30, nothing is left
                spans.append((start, end))
        spans.sort()
        merged: list[Interval] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        found = tuple(merged)
        if len(self._days) >= _DAY_CACHE_LIMIT:
            self._days.clear()
        self._days[day] = found
        return found

    def local_date(self, at: datetime) -> date:
        return _utc(at).astimezone(self._zone).date()

    @classmethod
    def from_data(
        cls,
        *,
        time_zone: str,
        opening_hours: Iterable[tuple[int, time, time]],
        holidays_country: str = "",
        days: Iterable[tuple[date, str, time | None, time | None]] = (),
    ) -> Calendar:
        """From rows as stored: (weekday, opens, closes) and (date, "closed" | "open", opens, closes)."""
        weekly: dict[int, list[Range]] = {}
        for weekday, opens, closes in opening_hours:
            weekly.setdefault(weekday, []).append((opens, closes))
        closed, extra_open = set(), {}
        for day, kind, opens, closes in days:
            if kind == "closed":
                closed.add(day)
            elif kind == "open":
                extra_open[day] = [(opens, closes)] if opens is not None and closes is not None else []
            else:
                raise ValueError(f"calendar day kind must be 'closed' or 'open', got {kind!r}")
        holidays = country_holidays(holidays_country) if holidays_country else frozenset()
        return cls(time_zone=time_zone, weekly=weekly, holidays=holidays, closed=closed, extra_open=extra_open)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"business-time maths needs an aware datetime, got naive {at!r}")
    return at.astimezone(UTC)


def _intervals_from(cal: Calendar, at: datetime) -> Iterable[Interval]:
    """Opening intervals that end after `at`, in time order, without end; stops on a calendar that never opens."""
    day = cal.local_date(at)
    closed_run = 0
    while True:
        intervals = cal.intervals_on(day)
        closed_run = 0 if intervals else closed_run + 1
        if closed_run > MAX_CLOSED_DAYS:
            raise CalendarNeverOpens(f"the calendar does not open within {MAX_CLOSED_DAYS} days after {day}")
        for start, end in intervals:
            if end > at:
                yield start, end
        day += timedelta(days=1)


def add_business_minutes(cal: Calendar, start: datetime, minutes: float) -> datetime:
    """The moment `minutes` business minutes after `start` (in the calendar's zone).

    The result always lies in an opening interval or at its closing moment: adding 15 minutes at 15:45 gives
    16:00 the same day, not the next opening. Adding 0 at a closed moment gives the next opening.
    """
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    at = _utc(start)
    remaining = timedelta(minutes=minutes)
    for opens, closes in _intervals_from(cal, at):
        begin = max(opens, at)
        room = closes - begin
        if remaining <= room:
            return (begin + remaining).astimezone(cal.zone)
        remaining -= room
    raise AssertionError("unreachable: _intervals_from never ends")  # pragma: no cover


def business_minutes_between(cal: Calendar, a: datetime, b: datetime) -> float:
    """Business minutes from `a` to `b` (negative when `b` is earlier); exact, in fractions of a minute."""
    a, b = _utc(a), _utc(b)
    if b < a:
        return -business_minutes_between(cal, b, a)
    total = timedelta(0)
    day, last = cal.local_date(a), cal.local_date(b)
    while day <= last:
        for opens, closes in cal.intervals_on(day):
            lo, hi = max(opens, a), min(closes, b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total / _MINUTE


def is_open(cal: Calendar, at: datetime) -> bool:
    """Whether the clock runs at `at` (opening intervals are half-open: 16:00 is closed)."""
    at = _utc(at)
    return any(opens <= at < closes for opens, closes in cal.intervals_on(cal.local_date(at)))


def next_opening(cal: Calendar, at: datetime) -> datetime:
    """`at` itself when open, else the next moment the clock starts running (in the calendar's zone)."""
    return add_business_minutes(cal, at, 0)
