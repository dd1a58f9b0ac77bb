"""One home per concept: routing, SLA and notifications ask the same selector and get the same answer.

The account of an e-mail domain, the earlier leads of the same person, the team leads and the lead's language each
have one definition; routing looks the facts up once per lead and the others receive them. Notifications only
send; a selector never writes; the outbox timings live in settings.
"""

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from flows.services.leads import lead_create
from notifications.messages import lead_compose, lead_context
from notifications.models import OutboxMessage
from notifications.services import escalation_notify, rule_messages_send
from notifications.tasks import backoff
from reps.models import Rep
from reps.selectors import team_leads
from routing.models import IntakeSource, Lead, LeadEvent, Rule, RuleAction, Tag, Task
from routing.ruleset import lead_facts
from routing.selectors import REPEAT_LOOKBACK, intake_source_for_token, lead_language, leads_earlier
from routing.services.actions import rule_actions_apply
from routing.services.intake import intake_source_touch
from sla.selectors import lead_sla_terms
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
WARSAW = ZoneInfo("Europe/Warsaw")
LEAD_LINK = re.compile(r"/admin/routing/lead/(\d+)/change/")


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def messages_to(rep: Rep, lead: Lead) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(lead=lead, recipient=rep.email))


# ---------------------------------------------------------------------------------------------- account by e-mail domain


def test_a_subdomain_lead_goes_to_huta_stals_manager_and_his_notice_names_huta_stal(api, tomek):
    response = post(api, {"email": "x@pl.hutastal.example", "first_name": "Ewa", "company": "Huta Stal Polska"})
    assert response.status_code == 201, response.content

    lead = Lead.objects.get()
    assert lead.owner == tomek
    assert lead.rule.name == "Existing account → account manager"
    (notice,) = messages_to(tomek, lead)
    assert "Your account Huta Stal S.A." in notice.subject
    assert "A new lead came from Huta Stal S.A., an account you manage." in notice.body
    assert "one of your accounts" not in notice.body  # the "no account" wording of the exact-domain lookup


def test_intake_looks_the_account_up_once_for_routing_sla_and_the_notice(api, tomek):
    with CaptureQueriesContext(connection) as ctx:
        response = post(api, {"email": "zakupy@pl.hutastal.example", "first_name": "Ewa"})
    assert response.status_code == 201, response.content

    account_lookups = [q["sql"] for q in ctx.captured_queries if "reps_accountdomain" in q["sql"]]
    assert len(account_lookups) == 1, account_lookups
    repeat_lookups = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip("(").startswith("SELECT") and '"email_key" =' in q["sql"]]  # in the facts' one union
    assert len(repeat_lookups) == 1, repeat_lookups
    assert messages_to(tomek, Lead.objects.get())


# ---------------------------------------------------------------------------------------------- earlier leads of the same person


def test_routing_and_the_repeat_notice_see_the_same_earlier_leads(api, kasia, marek):
    # 23 earlier leads of the same person, typed in every case: more than the lookback window holds.
    spellings = ["STALY.KLIENT@FIRMA.EXAMPLE", "Staly.Klient@firma.example", "staly.klient@firma.example"]
    earlier = [LeadFactory(email=spellings[i % 3], owner=kasia if i < 22 else marek, status=Lead.Status.CONTACTED) for i in range(23)]
    LeadFactory(email="someone.else@firma.example", owner=marek)

    response = post(api, {"email": "Staly.Klient@Firma.example", "first_name": "Stały"})
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    later = LeadFactory(email="staly.klient@firma.example", owner=marek)  # stored after: never one of the lead's earlier ones

    assert lead.rule.name == "Repeat lead → previous owner"
    assert lead.owner == marek  # the owner of the newest earlier lead
    routing_saw = list(lead_facts(Lead.objects.get(pk=lead.pk)).repeat.earlier_lead_ids)
    newest_first = [e.pk for e in reversed(earlier)][:REPEAT_LOOKBACK]
    assert routing_saw == newest_first
    assert [e.pk for e in leads_earlier(lead=lead)] == routing_saw
    assert lead.pk not in routing_saw and later.pk not in routing_saw

    (notice,) = messages_to(marek, lead)
    listed = [int(m.group(1)) for line in notice.body.splitlines() if line.startswith("- ") for m in [LEAD_LINK.search(line)] if m]
    assert listed == routing_saw


# ---------------------------------------------------------------------------------------------- team leads


def test_sla_alerts_and_notices_reach_the_same_team_leads(demo, anna, ewa, jan, kasia, django_capture_on_commit_callbacks):
    Rep.objects.filter(pk=ewa.pk).update(is_team_lead=True)
    Rep.objects.filter(pk=jan.pk).update(is_team_lead=True, is_active=False)  # not active: nobody's team lead
    assert team_leads() == [anna, ewa]

    from flows.services.sweep import sla_tick

    source = IntakeSource.objects.create(name="Form", token_hash="x" * 64, token_prefix="lr_x")
    tuesday_10 = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)
    with time_machine.travel(tuesday_10, tick=False):
        lead, _created = lead_create(source=source, fields={"email": "a@fabryka.example", "source": "demo_request", "submitted_at": tuesday_10}, now=tuesday_10)
    with time_machine.travel(tuesday_10 + timedelta(hours=2), tick=False):
        sla_tick(now=tuesday_10 + timedelta(hours=2))  # a late sweep: remind, reassign, alert the team leads
    alerted = [e.rep for e in lead.events.filter(type=LeadEvent.Type.ESCALATED).order_by("id")]
    assert alerted == [anna, ewa]

    rule = Rule.objects.get(position=10)
    RuleAction.objects.create(rule=rule, position=5, kind=RuleAction.Kind.NOTIFY, recipient=RuleAction.Recipient.TEAM_LEAD, template="notify")
    other = LeadFactory(rule=rule, owner=kasia, status=Lead.Status.ASSIGNED)
    event = LeadEvent.objects.create(lead=other, type=LeadEvent.Type.ASSIGNED, at=timezone.now(), rep=kasia)
    rule_messages_send(lead=other, rule=rule, event=event)
    escalation_notify(lead=other, kind="alert_team_lead", rep=None, channel=None, event=None)
    reached = {m.payload["rep_email"] for m in OutboxMessage.objects.filter(lead=other)}  # by e-mail, and SMS for the alert
    assert sorted(reached) == [anna.email, ewa.email]


# ---------------------------------------------------------------------------------------------- the lead's language


def test_the_clock_and_the_message_speak_the_same_language_to_the_lead(demo):
    assert [lead_language(Lead(language=code)) for code in ("pl", "PL", " en ", "de", "fr", "")] == ["pl", "pl", "en", "de", "en", "en"]

    friday_evening = datetime(2026, 11, 20, 17, 30, tzinfo=WARSAW)
    lead = LeadFactory(language="PL", source="contact_form", submitted_at=friday_evening, status=Lead.Status.ASSIGNED)
    terms = lead_sla_terms(lead=lead, now=friday_evening)
    composed = lead_compose("after_hours", lead, lead_context(lead, **terms.autoresponse.context))
    assert terms.autoresponse.context["opens_label"] == "poniedziałek 08:00"
    assert composed.template == "notifications/lead/after_hours.pl.txt"
    assert "poniedziałek 08:00" in composed.body


# ---------------------------------------------------------------------------------------------- notifications only send


def test_notifications_only_send_and_routing_keeps_the_leads_records(demo, kasia, tomek):
    territory = Rule.objects.get(position=11)  # a task
    german = Rule.objects.get(position=9)  # a tag
    account = Rule.objects.get(position=3)  # a notice to the owner
    lead = LeadFactory(rule=territory, owner=kasia, status=Lead.Status.ASSIGNED)
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ASSIGNED, at=timezone.now(), rep=kasia)

    for rule in (territory, german):
        rule_messages_send(lead=lead, rule=rule, event=event)
    assert not Task.objects.exists() and not lead.tags.exists()

    rule_actions_apply(lead=lead, rule=account, event=event)
    assert not OutboxMessage.objects.exists()

    for rule in (territory, german):
        rule_actions_apply(lead=lead, rule=rule, event=event)
    assert Task.objects.get(lead=lead).assignee == kasia
    assert list(lead.tags.all()) == [Tag.objects.get(name="export pipeline")]


# ---------------------------------------------------------------------------------------------- the token's last use


def test_looking_a_token_up_writes_nothing_and_its_use_is_noted_at_most_once_a_minute(api, website):
    source, token = website
    with CaptureQueriesContext(connection) as ctx:
        assert intake_source_for_token(raw_token=token) == source
    assert all(q["sql"].startswith("SELECT") for q in ctx.captured_queries)
    source.refresh_from_db()
    assert source.last_used_at is None

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert api.get(URL).status_code == 200
    source.refresh_from_db()
    assert source.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=30), tick=False), CaptureQueriesContext(connection) as ctx:
        assert api.get(URL).status_code == 200
    assert not [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE") and "routing_intakesource" in q["sql"]]
    source.refresh_from_db()
    assert source.last_used_at == start

    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        assert api.get(URL).status_code == 200
    source.refresh_from_db()
    assert source.last_used_at == start + timedelta(minutes=2)
    assert intake_source_touch(source=source, now=start + timedelta(minutes=1)) is False  # never backwards


# ---------------------------------------------------------------------------------------------- settings


def test_outbox_timings_come_from_settings(settings):
    assert settings.NOTIFICATIONS_RETRY_FOR == timedelta(hours=24)
    assert settings.NOTIFICATIONS_HTTP_TIMEOUT == (5.0, 10.0)
    settings.NOTIFICATIONS_BACKOFF_BASE = timedelta(seconds=10)
    settings.NOTIFICATIONS_BACKOFF_MAX = timedelta(seconds=40)

    assert timedelta(seconds=8) <= backoff(1) <= timedelta(seconds=12)
    assert backoff(10) <= timedelta(seconds=40)
