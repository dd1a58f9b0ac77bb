"""The wall screen for the office TV: what is burning now, today's speed to lead, each rep's load and status."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from reps.models import Absence, Rep
from routing.models import Lead
from tests.factories import IntakeSourceFactory, LeadFactory

WARSAW = ZoneInfo("Europe/Warsaw")
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=WARSAW)
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def office(demo, kasia, marek, ola, ewa):
    """Kasia let a lead slip 25 minutes ago; Marek (in a meeting) has one due in 7 minutes; one lead has no owner;
    two leads were answered today after 10 and 30 minutes. Ola is away, Ewa out of office today."""
    source = IntakeSourceFactory()

    def lead(**fields):
        fields.setdefault("submitted_at", fields.get("received_at", NOW - timedelta(hours=1)))
        fields.setdefault("received_at", fields["submitted_at"])
        return LeadFactory(intake_source=source, **fields)

    lead(owner=kasia, status=Lead.Status.ASSIGNED, company=HOSTILE, sla_due_at=NOW - timedelta(minutes=25))
    lead(owner=kasia, status=Lead.Status.ASSIGNED, company="Fabryka Okien", sla_due_at=NOW + timedelta(hours=2))
    lead(owner=marek, status=Lead.Status.ASSIGNED, company="Drukarnia Sokół", sla_due_at=NOW + timedelta(minutes=7))
    lead(status=Lead.Status.UNASSIGNED, company="Hurtownia Orzeł", received_at=NOW - timedelta(minutes=12), needs_attention=True)
    for minutes in (10, 30):
        arrived = NOW - timedelta(hours=2)
        lead(owner=ola, status=Lead.Status.CONTACTED, submitted_at=arrived, first_response_at=arrived + timedelta(minutes=minutes))
    Rep.objects.filter(pk=marek.pk).update(status=Rep.Status.IN_MEETING)
    Rep.objects.filter(pk=ola.pk).update(status=Rep.Status.AWAY)
    Absence.objects.create(rep=ewa, starts_on=date(2026, 3, 10), ends_on=date(2026, 3, 13), reason="urlop")
    with time_machine.travel(NOW, tick=False):
        yield


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def manager() -> Client:
    return login(get_user_model().objects.get(username="manager"))


def section(html: str, css_class: str) -> str:
    return re.search(rf'<section class="{css_class}".*?</section>', html, flags=re.S).group(0)


@pytest.mark.django_db
def test_the_wall_is_for_staff_a_rep_gets_403_and_a_stranger_the_login_page(office, kasia):
    assert manager().get("/dashboard/wall/").status_code == 200
    assert login(kasia.user).get("/dashboard/wall/").status_code == 403
    anonymous = Client().get("/dashboard/wall/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/accounts/login/?next=/dashboard/wall/"


@pytest.mark.django_db
def test_staff_or_whoever_may_view_leads_sees_the_wall(office):
    User = get_user_model()
    tv = User.objects.create_user(username="tv", password="x", is_staff=True)  # the office TV's own account
    assert login(tv).get("/dashboard/wall/").status_code == 200
    lead_reader = User.objects.create_user(username="reader", password="x")
    lead_reader.user_permissions.add(Permission.objects.get(codename="view_lead", content_type__app_label="routing"))
    assert login(lead_reader).get("/dashboard/wall/").status_code == 200


@pytest.mark.django_db
def test_the_wall_shows_the_breach_in_red_the_one_due_soon_in_amber_and_the_unassigned_one(office):
    html = manager().get("/dashboard/wall/").content.decode()
    red, amber, blue = section(html, "red"), section(html, "amber"), section(html, "blue")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in red and "Kasia Nowak" in red and "25 min late" in red
    assert "Drukarnia Sokół" in amber and "Marek Zieliński" in amber and "in 7 min" in amber
    assert "Hurtownia Orzeł" in blue and "waiting 12 min" in blue
    assert "Fabryka Okien" not in html  # not due for two hours: nothing to look at
    tiles = re.findall(r'<div class="tile[^"]*"><b>([^<]+)</b>', html)
    assert tiles == ["1", "1", "1", "20.0"]  # past SLA, due soon, unassigned, today's median minutes (10 and 30)


@pytest.mark.django_db
def test_the_wall_shows_each_reps_open_load_and_status(office):
    html = manager().get("/dashboard/wall/").content.decode()
    rows = {
        name: (status, int(open_), int(late))
        for name, status, open_, late in re.findall(
            r'<td class="name">([^<]+)</td><td><span class="status status-[a-z_]+">([^<]+)</span></td><td class="num">(\d+)</td><td class="num[^"]*">(\d+)</td>',
            html,
        )
    }
    assert rows["Kasia Nowak"] == ("Available", 2, 1)
    assert rows["Marek Zieliński"] == ("In a meeting", 1, 0)
    assert rows["Ola Wójcik"] == ("Away", 0, 0)
    assert rows["Ewa Lewandowska"] == ("Out of office", 0, 0)
    assert len(rows) == Rep.objects.filter(is_active=True).count()


def rep_statuses(html: str) -> dict[str, str]:
    """{rep: "Status" or "Status until HH:MM"} as the wall's table reads."""
    cells = re.findall(r'<td class="name">([^<]+)</td><td>(.*?)</td>', html)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", cell).split()) for name, cell in cells}


@pytest.mark.django_db
def test_the_wall_shows_the_effective_status_a_meeting_that_ended_is_available(office, marek, ola, tomek):
    """Marek's meeting was until 11:30 (it is 12:00): available, even before the sweep resets the stored status;
    Ola is away until 13:30, shown in Warsaw time; Tomek is available but out of office today."""
    Rep.objects.filter(pk=marek.pk).update(status=Rep.Status.IN_MEETING, status_until=NOW - timedelta(minutes=30))
    Rep.objects.filter(pk=ola.pk).update(status=Rep.Status.AWAY, status_until=NOW + timedelta(minutes=90))
    Absence.objects.create(rep=tomek, starts_on=NOW.date(), ends_on=NOW.date())
    statuses = rep_statuses(manager().get("/dashboard/wall/").content.decode())
    assert statuses["Marek Zieliński"] == "Available"
    assert statuses["Ola Wójcik"] == "Away until 13:30"
    assert statuses["Tomek Wiśniewski"] == "Out of office"
    assert statuses["Kasia Nowak"] == "Available"
    polish = rep_statuses(manager().get("/dashboard/wall/", HTTP_ACCEPT_LANGUAGE="pl").content.decode())
    assert polish["Marek Zieliński"] == "Do dyspozycji" and polish["Ola Wójcik"] == "Poza biurkiem do 13:30"  # the same words for Ola as for Marek


@pytest.mark.django_db
def test_the_wall_refreshes_itself_and_needs_no_javascript(office):
    html = manager().get("/dashboard/wall/").content.decode()
    refresh = re.search(r'<meta http-equiv="refresh" content="(\d+)">', html)
    assert refresh and 30 <= int(refresh.group(1)) <= 60
    assert "<script" not in html


@pytest.mark.django_db
def test_the_wall_speaks_polish(office):
    html = manager().get("/dashboard/wall/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert '<html lang="pl">' in html
    assert "Po terminie SLA" in html and "spóźnienie 25 min" in html and "za 7 min" in html
    assert "Nieobecność" in html and "Na spotkaniu" in html
    assert "20,0" in html  # today's median in Polish number format


@pytest.mark.django_db
def test_a_long_overdue_lead_reads_in_hours_or_days(office, kasia):
    Lead.objects.filter(company=HOSTILE).update(sla_due_at=NOW - timedelta(hours=3, minutes=5))
    assert "3 h 05 min late" in manager().get("/dashboard/wall/").content.decode()
    Lead.objects.filter(company=HOSTILE).update(sla_due_at=NOW - timedelta(days=2, hours=1))
    assert "2 days late" in manager().get("/dashboard/wall/").content.decode()
