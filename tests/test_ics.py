"""Out of office from an iCal (ICS) calendar: all-day, timed and recurring events become calendar absences (served
from 127.0.0.1), typed-in days are never touched, a refresh follows the calendar, bad calendars change nothing,
the schedule exists once, and a rep is unavailable on a calendar day."""

import functools
import threading
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reps import ics
from reps.models import Absence
from reps.selectors import rep_is_available

DATA = Path(__file__).parent / "data"
TODAY = date(2027, 1, 4)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def calendar_server(tmp_path):
    """tests/data and a scratch folder over HTTP on 127.0.0.1 (a port in 8240-8249)."""
    for name in ("out_of_office.ics",):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = None
    for port in range(8240, 8250):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), handler)
            break
        except OSError:
            continue
    assert server is not None, "no free port in 8240-8249"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.folder = tmp_path
    server.url = lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    yield server
    server.shutdown()
    server.server_close()


def calendar_days(rep):
    return sorted((a.starts_on, a.ends_on, a.reason) for a in Absence.objects.filter(rep=rep, source=Absence.Source.CALENDAR))


def test_all_day_timed_and_recurring_events_are_read():
    events = ics.calendar_events((DATA / "out_of_office.ics").read_bytes(), today=TODAY)
    assert [(first, last, summary) for _uid, first, last, summary in events] == [
        (date(2027, 1, 8), date(2027, 1, 8), "Wolny piątek"),  # weekly, the 15th excluded (EXDATE)
        (date(2027, 1, 11), date(2027, 1, 15), "Urlop w górach"),  # all day: DTEND is exclusive
        (date(2027, 1, 20), date(2027, 1, 20), "Szkolenie produktowe"),  # timed, in Warsaw time
        (date(2027, 1, 21), date(2027, 1, 22), "Lot do Berlina"),  # 22:30 UTC is 23:30 in Warsaw: two days
        (date(2027, 1, 22), date(2027, 1, 22), "Wolny piątek"),
    ]  # the past one and the cancelled one are left out


def test_not_a_calendar_is_an_error():
    with pytest.raises(ics.CalendarError):
        ics.calendar_events(b"<html>not a calendar</html>", today=TODAY)


@pytest.mark.django_db
def test_refresh_creates_calendar_absences_and_never_touches_typed_ones(calendar_server, marek):
    typed = Absence.objects.create(rep=marek, starts_on=date(2027, 1, 11), ends_on=date(2027, 1, 12), reason="Typed in")
    marek.calendar_url = calendar_server.url("out_of_office.ics")
    marek.save()
    assert ics.rep_calendar_refresh(rep=marek, today=TODAY) == {"created": 5, "updated": 0, "deleted": 0}
    assert calendar_days(marek)[1] == (date(2027, 1, 11), date(2027, 1, 15), "Urlop w górach")
    assert rep_is_available(rep=marek, on=date(2027, 1, 20))[0] is False
    assert rep_is_available(rep=marek, on=date(2027, 1, 19)) == (True, "")
    # Again: nothing changes. Then the holiday is shortened and the training dropped.
    assert ics.rep_calendar_refresh(rep=marek, today=TODAY) == {"created": 0, "updated": 0, "deleted": 0}
    path = calendar_server.folder / "out_of_office.ics"
    text = path.read_text(encoding="utf-8").replace("DTEND;VALUE=DATE:20270116", "DTEND;VALUE=DATE:20270114")
    text = text.replace("UID:szkolenie@techpol.example", "UID:szkolenie@techpol.example\r\nSTATUS:CANCELLED")
    path.write_text(text, encoding="utf-8")
    assert ics.rep_calendar_refresh(rep=marek, today=TODAY) == {"created": 0, "updated": 1, "deleted": 1}
    assert (date(2027, 1, 11), date(2027, 1, 13), "Urlop w górach") in calendar_days(marek)
    typed.refresh_from_db()
    assert (typed.starts_on, typed.ends_on, typed.source) == (date(2027, 1, 11), date(2027, 1, 12), Absence.Source.TYPED)


@pytest.mark.django_db
def test_a_calendar_that_fails_leaves_the_absences(calendar_server, marek, settings):
    marek.calendar_url = calendar_server.url("out_of_office.ics")
    marek.save()
    ics.rep_calendar_refresh(rep=marek, today=TODAY)
    before = calendar_days(marek)
    marek.calendar_url = calendar_server.url("missing.ics")
    marek.save()
    with pytest.raises(ics.CalendarError):
        ics.rep_calendar_refresh(rep=marek, today=TODAY)
    assert calendar_days(marek) == before
    assert ics.calendars_refresh_task()["failed"] == 1  # the task logs it and goes on


@pytest.mark.django_db
def test_a_too_large_calendar_is_refused(calendar_server, marek, monkeypatch):
    monkeypatch.setattr(ics, "MAX_BYTES", 100)
    with pytest.raises(ics.CalendarError, match="larger"):
        ics.calendar_fetch(calendar_server.url("out_of_office.ics"))
    with pytest.raises(ics.CalendarError, match="http"):
        ics.calendar_fetch("file:///etc/passwd")


@pytest.mark.django_db
def test_the_refresh_schedule_exists_once():
    import importlib

    from django.apps import apps
    from django_q.models import Schedule

    importlib.import_module("reps.migrations.0004_calendar_refresh_schedule").schedule_ensure(apps, None)
    assert list(Schedule.objects.filter(func="reps.ics.calendars_refresh_task").values_list("name", "minutes")) == [("Out-of-office calendars", 15)]


@pytest.mark.django_db
def test_a_rep_sets_the_calendar_on_their_page_and_it_is_read_at_once(calendar_server, marek, monkeypatch):
    from django.test import Client
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(marek.user)
    response = client.post("/my-leads/calendar/", {"calendar_url": calendar_server.url("out_of_office.ics")}, follow=True)
    assert "5 out-of-office entries read" in response.content.decode()
    assert len(calendar_days(marek)) == 5
    assert "from the calendar" in response.content.decode()
    client.post("/my-leads/calendar/", {"calendar_url": ""})
    marek.refresh_from_db()
    assert marek.calendar_url == "" and calendar_days(marek) == []
    client.post("/my-leads/calendar/", {"calendar_url": "ftp://example.com/x.ics"})
    marek.refresh_from_db()
    assert marek.calendar_url == ""
