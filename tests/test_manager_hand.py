"""The manager's hand: reassign one or many leads (to Ola, or back into a pool), re-route, rescue a disqualified
lead, log an activity for a rep; each with an event carrying the reason and a notification to the new owner."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from flows.services.reassign import lead_reassign, lead_reroute, lead_rescue
from notifications.models import OutboxMessage
from reps.models import Pool
from routing.models import Activity, Lead, LeadEvent


def _post(api, **body) -> Lead:
    response = api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return Lead.objects.get(pk=response.json()["id"])


@pytest.fixture
def manager(demo):
    return get_user_model().objects.get(username="manager")


@pytest.fixture
def manager_client(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def enterprise_leads(api, tomek):
    return [_post(api, email=f"cto{i}@fabryka{i}.example", company=f"Fabryka {i}", company_size=400) for i in range(2)]


def _to(rep) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(recipient=rep.email, template__contains="reassigned"))


@pytest.mark.django_db
def test_many_leads_go_to_ola_with_one_action(manager_client, enterprise_leads, ola, tomek):
    assert all(lead.owner == tomek for lead in enterprise_leads)
    response = manager_client.post(
        reverse("admin:routing_lead_changelist"),
        {"action": "reassign_action", "_selected_action": [lead.pk for lead in enterprise_leads], "to_rep": ola.pk, "reason": "Tomek na urlopie", "apply": "1"},
    )
    assert response.status_code == 302
    for lead in enterprise_leads:
        lead.refresh_from_db()
        assert lead.owner == ola
        event = LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REASSIGNED).get()
        assert "Tomek na urlopie" in event.detail and event.data["reason"] == "Tomek na urlopie"
        assert event.data["from_rep_id"] == tomek.pk and event.data["to_rep_id"] == ola.pk
        assert event.data["by"] == "Magda Manager"
    messages = _to(ola)
    assert len(messages) == 2
    assert "Tomek na urlopie" in messages[0].body
    assert "Nobody answered" not in messages[0].body


@pytest.mark.django_db
def test_the_action_first_asks_where_and_why(manager_client, enterprise_leads, tomek):
    response = manager_client.post(reverse("admin:routing_lead_changelist"), {"action": "reassign_action", "_selected_action": [enterprise_leads[0].pk]})
    assert response.status_code == 200
    assert b'name="reason"' in response.content and b'name="to_pool"' in response.content
    enterprise_leads[0].refresh_from_db()
    assert enterprise_leads[0].owner == tomek  # nothing moved yet


@pytest.mark.django_db
def test_a_reason_is_required(enterprise_leads, ola, manager):
    with pytest.raises(ValidationError):
        lead_reassign(lead=enterprise_leads[0], to_rep=ola, by=manager, reason="  ", now=timezone.now())


@pytest.mark.django_db
def test_back_into_a_pool_goes_to_its_next_rep_never_the_same_owner(api, manager, kasia, marek):
    lead = _post(api, email="zakup@sklep.example", source="demo_request")
    first = lead.owner
    assert first is not None
    demo_pool = Pool.objects.get(name="Demo")
    event = lead_reassign(lead=lead, to_pool=demo_pool, by=manager, reason="Druga opinia", now=timezone.now())
    lead.refresh_from_db()
    assert lead.owner is not None and lead.owner != first
    assert lead.pool == demo_pool
    assert event.rep == lead.owner and event.data["reason"] == "Druga opinia"
    assert _to(lead.owner)


@pytest.mark.django_db
def test_reroute_follows_the_current_rules(api, manager, tomek, jan):
    lead = _post(api, email="einkauf@gmbh.example", company_size=400)
    assert lead.owner == tomek
    Lead.objects.filter(pk=lead.pk).update(language="de")
    lead.refresh_from_db()
    from routing.models import Rule

    Rule.objects.filter(name__startswith="Enterprise").update(is_active=False, updated_at=timezone.now())
    event = lead_reroute(lead=lead, by=manager, reason="Reguła poprawiona", now=timezone.now())
    lead.refresh_from_db()
    assert lead.owner == jan
    assert event.type == LeadEvent.Type.REASSIGNED and "Reguła poprawiona" in event.detail
    assert _to(jan)


@pytest.mark.django_db
def test_rescue_a_disqualified_lead_to_a_rep_and_back_through_routing(api, manager, ola, kasia):
    student = _post(api, email="jan.student@uczelnia.example", job_title="Student", company_size=20)
    assert student.status == Lead.Status.DISQUALIFIED
    # Back through routing: the rules disqualify it again, so nothing changes and the manager is asked for a rep.
    with pytest.raises(ValidationError):
        lead_rescue(lead=student, by=manager, reason="To jednak klient", now=timezone.now())
    student.refresh_from_db()
    assert student.status == Lead.Status.DISQUALIFIED
    lead_rescue(lead=student, to_rep=ola, by=manager, reason="To jednak klient", now=timezone.now())
    student.refresh_from_db()
    assert student.status == Lead.Status.ASSIGNED and student.owner == ola
    assert student.sla_due_at is not None  # the clock runs for the rescued lead
    assert LeadEvent.objects.filter(lead=student, type=LeadEvent.Type.REASSIGNED, data__reason="To jednak klient").exists()
    assert _to(ola)


@pytest.mark.django_db
def test_rescue_back_through_routing_when_the_rule_was_wrong(api, manager):
    from routing.models import Rule

    student = _post(api, email="praktykant@firma.example", job_title="Praktykant", source="demo_request")
    assert student.status == Lead.Status.DISQUALIFIED
    Rule.objects.filter(name__startswith="Students").update(is_active=False, updated_at=timezone.now())
    lead_rescue(lead=student, by=manager, reason="Reguła za szeroka", now=timezone.now())
    student.refresh_from_db()
    assert student.status == Lead.Status.ASSIGNED and student.pool.name == "Demo"


@pytest.mark.django_db
def test_log_an_activity_for_a_rep_from_the_lead_page(manager_client, enterprise_leads, tomek):
    lead = enterprise_leads[0]
    page = manager_client.get(reverse("admin:routing_lead_change", args=[lead.pk]))
    assert reverse("admin:routing_lead_log_activity", args=[lead.pk]).encode() in page.content
    at = (timezone.localtime() + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    response = manager_client.post(
        reverse("admin:routing_lead_log_activity", args=[lead.pk]), {"kind": "call", "rep": "", "at": at, "outcome": "Umówione demo"}
    )
    assert response.status_code == 302
    activity = Activity.objects.get(lead=lead)
    assert activity.rep == tomek and activity.outcome == "Umówione demo"
    lead.refresh_from_db()
    assert lead.first_response_at is not None


@pytest.mark.django_db
def test_only_staff_reach_the_manager_hand(enterprise_leads, ola):
    rep_client = Client()
    rep_client.force_login(ola.user)
    lead = enterprise_leads[0]
    for url in [reverse("admin:routing_lead_hand", args=[lead.pk, "reassign"]), reverse("admin:routing_lead_log_activity", args=[lead.pk])]:
        response = rep_client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    response = rep_client.post(reverse("admin:routing_lead_hand", args=[lead.pk, "reassign"]), {"to_rep": ola.pk, "reason": "x", "apply": "1"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.owner != ola
