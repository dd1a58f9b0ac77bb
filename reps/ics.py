"""Out of office from a rep's iCal (ICS) calendar: fetch it, read its events, keep the rep's calendar absences in step.

Every event on the calendar (the rep's out-of-office calendar, e.g. a shared "Urlop" calendar) makes the rep out of
office on each day it touches, in the site's time zone: an all-day event on its days (DTEND is exclusive), a timed
one on the days from its start to its end. Recurring events (RRULE, RDATE, EXDATE) are expanded by
recurring-ical-events for the next `HORIZON_DAYS`. Each occurrence is one `Absence` marked "from the calendar",
keyed by the event's UID and first day; typed-in absences are never touched (reps.services.absences_from_calendar_sync).

The calendar is fetched with `requests`: http(s) only, a timeout, at most `MAX_BYTES`; any failure is logged and
leaves the rep's absences as they were. The django-q2 schedule (reps migration 0004) runs `calendars_refresh_task`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import icalendar
import recurring_ical_events
import requests
from django.utils import timezone

from reps.models import Rep
from reps.services import absences_from_calendar_sync, rep_statuses_expire

log = logging.getLogger(__name__)

MAX_BYTES = 2_000_000
TIMEOUT_SECONDS = 10
HORIZON_DAYS = 120
MAX_OCCURRENCES = 500


class CalendarError(Exception):
    """The calendar could not be fetched or read (the message says why, for the log and the admin)."""


def calendar_fetch(url: str) -> bytes:
    """The calendar's bytes: http(s) only, `TIMEOUT_SECONDS`, at most `MAX_BYTES` (read in chunks, never more)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise CalendarError("only http and https calendar addresses are fetched")
    try:
        with requests.get(url, timeout=TIMEOUT_SECONDS, stream=True, allow_redirects=True, headers={"Accept": "text/calendar"}) as response:
            response.raise_for_status()
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_BYTES:
                raise CalendarError(f"the calendar is larger than {MAX_BYTES} bytes")
            body = bytearray()
            for chunk in response.iter_content(chunk_size=65536):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise CalendarError(f"the calendar is larger than {MAX_BYTES} bytes")
            return bytes(body)
    except requests.RequestException as exc:
        raise CalendarError(f"cannot fetch the calendar: {exc.__class__.__name__}") from exc


def _local_day(value: date | datetime) -> date:
    if isinstance(value, datetime):
        if timezone.is_naive(value):  # floating time: as written, in the site's zone
            return value.date()
        return timezone.localtime(value).date()
    return value


def _days(start: date | datetime, end: date | datetime | None) -> tuple[date, date]:
    """First and last day (inclusive) an event touches."""
    first = _local_day(start)
    if end is None:
        return first, first
    if isinstance(end, datetime):
        last = _local_day(end - timedelta(microseconds=1)) if end > start else first  # ending at midnight: the day before
    else:
        last = end - timedelta(days=1)  # an all-day DTEND is exclusive
    return first, max(first, last)


def calendar_events(data: bytes | str, *, today: date, horizon_days: int = HORIZON_DAYS) -> list[tuple[str, date, date, str]]:
    """(uid, first day, last day, summary) for each event occurrence touching `today` … `today + horizon_days`."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise CalendarError(f"not an iCalendar file: {exc}") from exc
    try:
        occurrences = recurring_ical_events.of(calendar).between(today, today + timedelta(days=horizon_days))
    except Exception as exc:  # a malformed RRULE or date in someone's calendar must not stop the others
        raise CalendarError(f"cannot read the calendar's events: {exc.__class__.__name__}") from exc
    events: list[tuple[str, date, date, str]] = []
    for event in occurrences[:MAX_OCCURRENCES]:
        if event.name != "VEVENT" or str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        start = event.get("DTSTART")
        if start is None:
            continue
        end = event.get("DTEND")
        first, last = _days(start.dt, end.dt if end is not None else None)
        uid = f"{event.get('UID', '')}@{first.isoformat()}"
        events.append((uid, first, last, str(event.get("SUMMARY", ""))))
    return sorted(events, key=lambda e: (e[1], e[0]))


def rep_calendar_refresh(*, rep: Rep, today: date | None = None) -> dict[str, int]:
    """Fetch and apply one rep's calendar. Raises CalendarError when it cannot be fetched or read."""
    if not rep.calendar_url:
        return {"created": 0, "updated": 0, "deleted": 0}
    today = today or timezone.localdate()
    events = calendar_events(calendar_fetch(rep.calendar_url), today=today)
    return absences_from_calendar_sync(rep=rep, events=events, today=today)


def calendars_refresh_task() -> dict[str, int]:
    """The schedule's task: expire ended "in a meeting" statuses, then refresh each active rep's calendar."""
    now = timezone.now()
    totals = {"expired": rep_statuses_expire(now=now), "reps": 0, "failed": 0}
    for rep in Rep.objects.filter(is_active=True).exclude(calendar_url=""):
        try:
            rep_calendar_refresh(rep=rep)
        except CalendarError as exc:
            totals["failed"] += 1
            log.warning("out-of-office calendar of rep %s not refreshed: %s", rep.pk, exc)
        else:
            totals["reps"] += 1
    return totals
