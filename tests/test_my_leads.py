"""The reps' page: own leads only, with SLA countdown; log activities; status and out-of-office days."""

import json
from datetime import date

import pytest
from django.test import Client

from reps.models import Absence, Rep
from routing.models import Lead


def take_in(api, **fields):
    response = api.post("/api/v1/leads/", data=json.dumps(fields), content_type="application/json")
    assert response.status_code == 201, response.content
    return Lead.objects.get(pk=response.json()["id"])


def logged_in(rep: Rep) -> Client:
    client = Client()
    client.force_login(rep.user)
    return client


@pytest.mark.django_db
def test_my_leads_needs_a_login(demo):
    response = Client().get("/my-leads/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_rep_sees_own_leads_with_deadline_and_not_others(api, kasia, marek):
    mine = take_in(api, email="sklep@sklep-online.example", industry="E-commerce", company="Sklep Online")
    theirs = take_in(api, email="inny@firma-b.example", source="webinar", company="Firma B")
    assert (mine.owner, theirs.owner) == (kasia, marek)
    page = logged_in(kasia).get("/my-leads/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sklep Online" in html and "Firma B" not in html
    assert f'id="lead-{mine.pk}"' in html
    assert "countdown" in html


@pytest.mark.django_db
def test_rep_logs_a_call_which_stops_the_clock(api, kasia):
    lead = take_in(api, email="sklep@sklep-online.example", industry="E-commerce")
    response = logged_in(kasia).post(f"/my-leads/{lead.pk}/activity/", {"kind": "call", "outcome": "umówione demo"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == "contacted" and lead.first_response_at is not None
    assert lead.activities.get(kind="call").rep == kasia


@pytest.mark.django_db
def test_rep_cannot_log_on_someone_elses_lead(api, kasia, marek):
    lead = take_in(api, email="sklep@sklep-online.example", industry="E-commerce")
    response = logged_in(marek).post(f"/my-leads/{lead.pk}/activity/", {"kind": "call"})
    assert response.status_code == 404
    assert not lead.activities.exclude(kind="note").exists()  # the e-commerce rule's note is there


@pytest.mark.django_db
def test_rep_sets_in_a_meeting_and_enters_out_of_office_days(kasia):
    client = logged_in(kasia)
    client.post("/my-leads/status/", {"status": "in_meeting"})
    kasia.refresh_from_db()
    assert kasia.status == Rep.Status.IN_MEETING
    client.post("/my-leads/absences/", {"starts_on": "2026-12-21", "ends_on": "2026-12-31", "reason": "urlop"})
    assert list(Absence.objects.filter(rep=kasia).values_list("starts_on", "ends_on")) == [(date(2026, 12, 21), date(2026, 12, 31))]


@pytest.mark.django_db
def test_out_of_office_with_end_before_start_is_refused(kasia):
    response = logged_in(kasia).post("/my-leads/absences/", {"starts_on": "2026-12-21", "ends_on": "2026-12-01"}, follow=True)
    assert not Absence.objects.exists()
    assert "before" in response.content.decode()


@pytest.mark.django_db
def test_manager_without_rep_goes_to_the_admin(demo):
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    response = client.get("/my-leads/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/")


@pytest.mark.django_db
def test_page_speaks_polish(kasia):
    response = logged_in(kasia).get("/my-leads/", HTTP_ACCEPT_LANGUAGE="pl")
    assert "Moje leady" in response.content.decode() or "Otwarte leady" in response.content.decode()


@pytest.mark.django_db
def test_rep_cannot_remove_someone_elses_out_of_office_days(kasia, marek):
    absence = Absence.objects.create(rep=kasia, starts_on=date(2026, 12, 21), ends_on=date(2026, 12, 31))
    assert logged_in(marek).post(f"/my-leads/absences/{absence.pk}/delete/").status_code == 404
    assert Absence.objects.filter(pk=absence.pk).exists()
    assert logged_in(kasia).post(f"/my-leads/absences/{absence.pk}/delete/").status_code == 302
    assert not Absence.objects.filter(pk=absence.pk).exists()


@pytest.mark.django_db
def test_a_user_who_is_not_a_rep_cannot_post_rep_actions(demo):
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    assert client.post("/my-leads/status/", {"status": "away"}).status_code == 404
