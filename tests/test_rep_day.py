"""The rep's day: a lead page of their own, tasks ticked off, outcomes, business-time countdown, search, markers,
"in a meeting until", the updates poll, the team lead's view and hand-over; access (404) and escaping."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from reps.models import Rep
from reps.selectors import rep_is_available
from reps.services import rep_status_set, rep_statuses_expire
from routing.models import Lead, LeadEvent, Task
from routing.services.tasks import outcome_split

EVIL = '<script>alert("x")</script>'


def take_in(api, **fields):
    response = api.post("/api/v1/leads/", data=json.dumps(fields), content_type="application/json")
    assert response.status_code == 201, response.content
    return Lead.objects.get(pk=response.json()["id"])


def logged_in(rep: Rep) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(rep.user)
    return client


def webinar_lead(api, **fields):
    """A webinar lead, Marek's (the demo's webinar rule sends them to the juniors' pool: Marek or Ola in turn, so
    the turn is settled here)."""
    lead = take_in(api, **{"email": "jan.kowalski@firma-b.example", "source": "webinar", "first_name": "Jan", "last_name": "Kowalski", "company": "Firma B", "phone": "+48 600 100 200", **fields})
    marek = Rep.objects.get(user__username="marek")
    if lead.owner_id != marek.pk:
        Lead.objects.filter(pk=lead.pk).update(owner=marek)
        lead.refresh_from_db()
    return lead


@pytest.mark.django_db
def test_rep_opens_own_lead_with_fields_why_tasks_and_links(api, marek):
    lead = webinar_lead(api, job_title="CTO", message="Prosimy o demo")
    Task.objects.create(lead=lead, assignee=marek, title="Propose an in-person meeting")
    html = logged_in(marek).get(f"/my-leads/{lead.pk}/").content.decode()
    assert "Firma B" in html and "CTO" in html and "Prosimy o demo" in html
    assert 'href="tel:+48600100200"' in html and 'href="mailto:jan.kowalski@firma-b.example"' in html
    assert "Propose an in-person meeting" in html and "<details>" in html
    assert lead.explanation and all(escape(line) in html for line in lead.explanation)
    assert "History" in html and "Received" in html


@pytest.mark.django_db
def test_another_reps_lead_is_a_404_everywhere(api, kasia, marek):
    lead = webinar_lead(api)
    task = Task.objects.create(lead=lead, assignee=marek, title="Call back")
    kasia_client = logged_in(kasia)
    assert kasia_client.get(f"/my-leads/{lead.pk}/").status_code == 404
    assert kasia_client.post(f"/my-leads/{lead.pk}/tasks/{task.pk}/done/").status_code == 404
    assert kasia_client.post(f"/my-leads/{lead.pk}/reassign/", {"to_rep": kasia.pk, "reason": "mine"}).status_code == 404
    task.refresh_from_db()
    lead.refresh_from_db()
    assert task.done_at is None and lead.owner == marek
    assert "Firma B" not in kasia_client.get("/my-leads/?q=Firma").content.decode()


@pytest.mark.django_db
def test_task_done_button_ticks_it_off_once_with_history(api, marek):
    lead = webinar_lead(api)
    task = Task.objects.create(lead=lead, assignee=marek, title="Propose an in-person meeting")
    client = logged_in(marek)
    response = client.post(f"/my-leads/{lead.pk}/tasks/{task.pk}/done/", {"next": f"/my-leads/{lead.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/my-leads/{lead.pk}/"
    task.refresh_from_db()
    first = task.done_at
    assert first is not None
    client.post(f"/my-leads/{lead.pk}/tasks/{task.pk}/done/")
    task.refresh_from_db()
    assert task.done_at == first
    assert LeadEvent.objects.filter(lead=lead, data__task_id=task.pk).count() == 1


@pytest.mark.django_db
def test_outcomes_are_stored_and_disqualified_takes_the_lead_off_the_list(api, marek):
    booked, bad = webinar_lead(api), webinar_lead(api, email="student@firma-c.example", company="Firma C")
    client = logged_in(marek)
    client.post(f"/my-leads/{booked.pk}/activity/", {"kind": "call", "result": "meeting_booked", "outcome": "czwartek 10:00"})
    assert outcome_split(booked.activities.get(kind="call").outcome) == ("meeting_booked", "czwartek 10:00")
    client.post(f"/my-leads/{bad.pk}/activity/", {"kind": "call", "result": "disqualified", "outcome": "student"})
    bad.refresh_from_db()
    assert bad.status == Lead.Status.DISQUALIFIED
    assert LeadEvent.objects.filter(lead=bad, type=LeadEvent.Type.DISQUALIFIED, rep=marek).exists()
    page = client.get(f"/my-leads/{booked.pk}/").content.decode()
    assert "Meeting booked" in page and "czwartek 10:00" in page
    assert f'id="lead-{bad.pk}"' not in client.get("/my-leads/").content.decode()


@pytest.mark.django_db
def test_an_unknown_outcome_is_refused(api, marek):
    lead = webinar_lead(api)
    logged_in(marek).post(f"/my-leads/{lead.pk}/activity/", {"kind": "call", "result": "won_the_lottery"})
    assert not lead.activities.filter(kind="call").exists()


@pytest.mark.django_db
def test_countdown_is_in_business_minutes(api, marek):
    lead = webinar_lead(api)
    assert lead.sla_due_at is not None
    html = logged_in(marek).get("/my-leads/").content.decode()
    assert "business" in html and 'class="due countdown' in html
    pl = Client(HTTP_ACCEPT_LANGUAGE="pl")
    pl.force_login(marek.user)
    assert "czasu roboczego" in pl.get("/my-leads/").content.decode()


@pytest.mark.django_db
def test_overdue_is_red(api, marek):
    lead = webinar_lead(api)
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=timezone.now() - timedelta(days=3), sla_policy=None)
    html = logged_in(marek).get("/my-leads/").content.decode()
    assert "due countdown breached" in html and "overdue by" in html


@pytest.mark.django_db
def test_search_over_name_company_and_email(api, marek):
    webinar_lead(api)
    webinar_lead(api, email="ala@inna.example", first_name="Ala", last_name="Nowak", company="Inna Sp. z o.o.")
    client = logged_in(marek)
    for query in ("kowalski", "Firma B", "firma-b.example"):
        html = client.get("/my-leads/", {"q": query}).content.decode()
        assert "Jan Kowalski" in html and "Ala Nowak" not in html, query
    assert "Ala Nowak" in client.get("/my-leads/", {"q": "inna"}).content.decode()


@pytest.mark.django_db
def test_new_and_reassigned_markers(api, marek, ola, anna):
    lead = webinar_lead(api)
    assert "marker new" in logged_in(marek).get("/my-leads/").content.decode()
    response = logged_in(anna).post(f"/my-leads/{lead.pk}/reassign/", {"to_rep": ola.pk, "reason": "Marek is ill"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.owner == ola
    assert LeadEvent.objects.get(lead=lead, type=LeadEvent.Type.REASSIGNED).data["reason"] == "Marek is ill"
    assert "reassigned to you" in logged_in(ola).get("/my-leads/").content.decode()
    assert logged_in(marek).get(f"/my-leads/{lead.pk}/").status_code == 404


@pytest.mark.django_db
def test_team_lead_sees_the_teams_leads_and_a_rep_cannot_reassign(api, marek, anna, kasia):
    lead = webinar_lead(api)
    html = logged_in(anna).get("/my-leads/", {"team": "1"}).content.decode()
    assert f'id="lead-{lead.pk}"' in html and "Marek Zieliński" in html
    assert logged_in(anna).get(f"/my-leads/{lead.pk}/").status_code == 200
    assert logged_in(kasia).get("/my-leads/", {"team": "1"}).content.decode().count(f'id="lead-{lead.pk}"') == 0
    assert logged_in(marek).post(f"/my-leads/{lead.pk}/reassign/", {"to_rep": kasia.pk, "reason": "x"}).status_code == 404


@pytest.mark.django_db
def test_lead_text_is_escaped_on_the_list_and_the_lead_page(api, marek):
    lead = webinar_lead(api, first_name=EVIL, company=EVIL, message=EVIL, job_title=EVIL, extra={"note": EVIL})
    client = logged_in(marek)
    for url in ("/my-leads/", f"/my-leads/{lead.pk}/", "/my-leads/?q=script"):
        html = client.get(url).content.decode()
        assert EVIL not in html, url
        assert "&lt;script&gt;" in html, url


@pytest.mark.django_db
def test_in_a_meeting_until_a_time_then_available_again(kasia):
    today = timezone.localdate()
    rep_status_set(rep=kasia, status=Rep.Status.IN_MEETING, until=timezone.now() + timedelta(hours=1))
    assert rep_is_available(rep=kasia, on=today) == (False, "in a meeting")
    Rep.objects.filter(pk=kasia.pk).update(status_until=timezone.now() - timedelta(minutes=1))
    kasia.refresh_from_db()
    assert rep_is_available(rep=kasia, on=today) == (True, "")  # lazily: the time has passed
    assert rep_statuses_expire(now=timezone.now()) == 1
    kasia.refresh_from_db()
    assert (kasia.status, kasia.status_until) == (Rep.Status.AVAILABLE, None)


@pytest.mark.django_db
def test_status_form_with_until(kasia):
    response = logged_in(kasia).post("/my-leads/status/", {"status": "in_meeting", "until": "23:59"})
    assert response.status_code == 302
    kasia.refresh_from_db()
    assert kasia.status == Rep.Status.IN_MEETING and kasia.status_until > timezone.now()


@pytest.mark.django_db
def test_an_expired_meeting_does_not_stop_the_pool(api, kasia, marek, ola):
    past = timezone.now() - timedelta(minutes=5)
    Rep.objects.filter(pk__in=[kasia.pk, marek.pk, ola.pk]).update(status=Rep.Status.IN_MEETING, status_until=past)
    lead = take_in(api, email="ktos@nowa-firma.example", company="Nowa")
    assert lead.owner is not None


@pytest.mark.django_db
def test_updates_poll_counts_new_leads_as_json(api, marek):
    client = logged_in(marek)
    before = timezone.now() - timedelta(seconds=1)
    assert client.get("/my-leads/updates", {"since": before.isoformat()}).json()["new"] == 0
    webinar_lead(api)
    answer = client.get("/my-leads/updates", {"since": before.isoformat()}).json()
    assert answer["new"] == 1 and answer["open"] == 1
    assert client.get("/my-leads/updates", {"since": "rubbish"}).status_code == 200
    assert Client().get("/my-leads/updates").status_code == 302


@pytest.mark.django_db
def test_typed_absence_removal_never_removes_calendar_ones(kasia):
    from datetime import date

    from reps.models import Absence

    absence = Absence.objects.create(rep=kasia, starts_on=date(2031, 1, 1), ends_on=date(2031, 1, 2), source=Absence.Source.CALENDAR, uid="x@2031-01-01")
    assert logged_in(kasia).post(f"/my-leads/absences/{absence.pk}/delete/").status_code == 404
    assert Absence.objects.filter(pk=absence.pk).exists()
