"""Messages to prospects are signed with the company's own name, website and phone (the manager's company
profile), never with the back office's address (SITE_URL)."""

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django_q.conf import Conf

from notifications.models import CompanyProfile
from notifications.services import company_profile_set

pytestmark = pytest.mark.django_db

BACK_OFFICE = "https://backoffice.techpol.example"
TUESDAY_10 = "2026-11-17T10:00:00+01:00"  # office hours: no after-hours notice besides the rule's message
SATURDAY_10 = "2026-11-21T10:00:00+01:00"


@pytest.fixture(autouse=True)
def q_sync(monkeypatch, settings):
    """django-q2 runs each task at once (the real async_task -> worker path); the back office has its own URL."""
    monkeypatch.setattr(Conf, "SYNC", True)
    settings.SITE_URL = BACK_OFFICE


@pytest.fixture
def send(api, django_capture_on_commit_callbacks):
    def post(**fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/v1/leads/", fields, content_type="application/json")
        assert response.status_code == 201, response.content
        return [message for message in mail.outbox if message.to == [fields["email"]]]

    return post


@time_machine.travel(TUESDAY_10, tick=False)
def test_a_demo_request_autoresponse_is_signed_by_techpol_not_the_back_office(demo, send):
    (sent,) = send(email="zofia@fabryka-okien.example", first_name="Zofia", source="demo_request", language="pl")

    assert "Zespół sprzedaży TechPol\nhttps://techpol.example\ntel. +48 32 555 01 00" in sent.body
    assert BACK_OFFICE not in sent.body and "/admin/" not in sent.body


@time_machine.travel(SATURDAY_10, tick=False)
def test_an_english_after_hours_notice_is_signed_with_the_managers_profile(demo, send):
    company_profile_set(name="TechPol Sp. z o.o.", website="https://www.techpol.example", phone="+48 32 555 02 00")

    messages = send(email="anne@shop.example", first_name="Anne", language="en", source="contact_form")

    assert [sent.subject for sent in messages] == ["We have received your message"]
    for sent in messages:
        assert sent.body.endswith("Kind regards\nThe TechPol Sp. z o.o. sales team\nhttps://www.techpol.example\nPhone: +48 32 555 02 00")
        assert BACK_OFFICE not in sent.body


@time_machine.travel(TUESDAY_10, tick=False)
def test_without_a_profile_the_signature_is_plain_and_still_has_no_back_office_link(demo, send):
    CompanyProfile.objects.all().delete()

    (sent,) = send(email="ania@uczelnia.example", first_name="Ania", job_title="Studentka", language="pl")

    assert sent.body.endswith("Pozdrawiamy\nZespół sprzedaży")
    assert BACK_OFFICE not in sent.body


def test_the_manager_sets_the_company_profile_in_the_admin(demo):
    manager = Client()
    manager.login(username="manager", password="demo")

    listing = manager.get("/admin/notifications/companyprofile/")
    change = f"/admin/notifications/companyprofile/{CompanyProfile.SINGLETON_ID}/change/"
    assert listing.status_code == 200 and change in listing.content.decode()
    response = manager.post(change, {"name": "TechPol", "website": "https://techpol.example/kontakt", "phone": "+48 32 555 03 00"})

    assert response.status_code == 302
    profile = CompanyProfile.objects.get()
    assert (profile.website, profile.phone) == ("https://techpol.example/kontakt", "+48 32 555 03 00")
    assert manager.get("/admin/notifications/companyprofile/add/").status_code == 403  # one profile only


def test_the_demo_fills_techpols_profile_once(demo):
    from flows.demo import demo_load

    demo_load(password="demo")

    assert list(CompanyProfile.objects.values_list("name", "website", "phone")) == [("TechPol", "https://techpol.example", "+48 32 555 01 00")]
