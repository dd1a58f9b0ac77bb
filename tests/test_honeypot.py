"""A honeypot field for web forms (issue 13): a bot that fills it is answered as a success; nothing happens."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client

from notifications.models import OutboxMessage
from routing.models import IntakeSource, Lead, LeadEvent
from tests.test_intake_api import routing_state

URL = "/api/v1/leads/"


@pytest.fixture
def form_source(website):
    source, token = website
    source.honeypot_field = "website_url"
    source.save()
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
class TestHoneypot:
    @pytest.mark.parametrize("as_form", [True, False])
    def test_a_filled_honeypot_answers_201_and_stores_routes_and_notifies_nothing(self, form_source, demo, as_form):
        before = routing_state()
        outbox = OutboxMessage.objects.count()
        body = {"email": "bot@firma.example", "source": "demo_request", "website_url": "http://spam.example"}
        if as_form:
            response = form_source.post(URL, data=body)
        else:
            response = form_source.post(URL, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 201, response.content
        answer = response.json()
        assert answer["status"] == "unassigned" and answer["owner"] is None and "submitted_at" in answer
        assert routing_state() == before
        assert Lead.objects.count() == 0 and LeadEvent.objects.count() == 0
        assert OutboxMessage.objects.count() == outbox

    def test_an_empty_honeypot_is_a_real_lead_without_the_field_in_extra(self, form_source, demo):
        response = form_source.post(URL, data={"email": "zofia@fabryka-okien.example", "website_url": "", "plan": "pro"})
        assert response.status_code == 201
        assert Lead.objects.get().extra == {"plan": "pro"}

    def test_a_source_without_a_honeypot_keeps_every_field(self, api, demo):
        api.post(URL, data={"email": "zofia@fabryka-okien.example", "website_url": "x"})
        assert Lead.objects.get().extra == {"website_url": "x"}

    def test_a_filled_honeypot_with_a_bad_body_is_still_a_400(self, form_source, demo):
        response = form_source.post(URL, data={"email": "not-an-address", "website_url": "x"})
        assert response.status_code == 400

    def test_a_real_field_cannot_be_the_honeypot(self, website):
        source = website[0]
        source.honeypot_field = "company"
        with pytest.raises(ValidationError) as raised:
            source.full_clean()
        assert "honeypot_field" in raised.value.message_dict

    def test_the_manager_sets_it_in_the_admin(self, demo):
        client = Client()
        client.force_login(get_user_model().objects.get(username="manager"))
        response = client.post("/admin/routing/intakesource/add/", {"name": "Contact form", "honeypot_field": "fax_number"})
        assert response.status_code == 302, response.content[:2000]
        assert IntakeSource.objects.get(name="Contact form").honeypot_field == "fax_number"
        source = IntakeSource.objects.get(name="Contact form")
        response = client.post(f"/admin/routing/intakesource/{source.pk}/change/", {"name": "Contact form", "honeypot_field": "company"})
        assert response.status_code == 200 and "real lead field" in response.content.decode()
