"""Every owner is told (docs/notifications.md): after every assignment, whatever placed the lead, the new owner gets
one message per channel of their own (e-mail always; SMS, Slack, Teams by their preferences and the lead's priority),
with the lead's context, the why and the link to their lead page, and the lead's history has a `notification` event
for them. A lead nobody can take alerts the team lead (Anna) at once.

On the TechPol demo through the API and the SLA sweep, on Tuesday 2026-11-17 10:00 Warsaw (office open; Marek is
on duty on Tuesdays). Demo reps want e-mail and SMS.
"""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from flows.services.reassign import lead_reassign
from flows.services.sweep import sla_tick
from notifications.models import Channel, OutboxMessage
from notifications.selectors import phone_normalise
from notifications.services import OwnerReason, owner_notify
from reps.models import Rep
from routing.models import Lead, LeadEvent

pytestmark = pytest.mark.django_db

WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY_10 = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)


def send(api, when=TUESDAY_10, **body) -> dict:
    body.setdefault("first_name", "Zofia")
    with time_machine.travel(when, tick=False):
        response = api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def told(lead_id: int, rep: Rep) -> list[tuple[str, str]]:
    """(channel kind, address) of every message queued to `rep` about the lead, sorted."""
    rows = OutboxMessage.objects.filter(lead_id=lead_id, recipient__in=[rep.email, phone_normalise(rep.phone)]).select_related("channel")
    return sorted((m.channel.kind if m.channel else "email", m.recipient) for m in rows)


def by_email(rep: Rep) -> tuple[str, str]:
    return ("email", rep.email)


def by_sms(rep: Rep) -> tuple[str, str]:
    return ("sms", phone_normalise(rep.phone))


def notified(lead_id: int) -> list[str]:
    """The reps of the lead's `notification` events, in order (e-mails)."""
    return [e.rep.email for e in LeadEvent.objects.filter(lead_id=lead_id, type=LeadEvent.Type.NOTIFICATION).select_related("rep").order_by("at", "id") if e.rep]


def mail_to(lead_id: int, rep: Rep) -> OutboxMessage:
    return OutboxMessage.objects.get(lead_id=lead_id, recipient=rep.email)


# ---------------------------------------------------------------------------------------------- every path


def test_demo_request_to_kasia_reaches_her_by_email_and_sms_with_the_whole_context(api, kasia, settings):
    settings.SITE_URL = "https://leads.techpol.example"
    lead = send(
        api,
        email="zofia@fabryka-okien.example",
        company="Fabryka Okien",
        job_title="Dyrektor zakupów",
        phone="+48 601 000 111",
        source="demo_request",
        message="Chcemy demo dla 20 osób",
    )

    assert lead["owner"]["email"] == "kasia@techpol.example"
    assert told(lead["id"], kasia) == [by_email(kasia), by_sms(kasia)]  # critical: every channel she asked for
    message = mail_to(lead["id"], kasia)
    assert message.subject == "[CRITICAL] New lead for you: Zofia, Fabryka Okien · +48 601 000 111"
    for text in ["Dyrektor zakupów", "+48 601 000 111", "zofia@fabryka-okien.example", "Chcemy demo dla 20 osób", "demo_request", "Priority: Critical"]:
        assert text in message.body
    assert "make the first contact by Tue 17 Nov 10:15" in message.body  # 15 business minutes, Warsaw time
    assert "Why you: Rule “Demo request → Demo pool” · Demo: Kasia Nowak is next in turn" in message.body
    assert f"https://leads.techpol.example/my-leads/{lead['id']}/" in message.body
    assert notified(lead["id"]) == ["kasia@techpol.example"]


def test_the_notification_event_is_in_the_api_representation(api, kasia):
    lead = send(api, email="cto@sklep.example", source="demo_request")

    with time_machine.travel(TUESDAY_10, tick=False):
        events = api.get(f"/api/v1/leads/{lead['id']}/").json()["events"]
    types = [event["type"] for event in events]
    assert types.index("assigned") < types.index("notification")
    (notice,) = [event for event in events if event["type"] == "notification"]
    assert notice["rep"] == "kasia@techpol.example"
    assert "kasia@techpol.example" in notice["detail"]


def test_rule_to_a_named_rep_without_a_notify_action_still_tells_the_rep(api, jan):
    lead = send(api, email="kunde@firma.example", language="de", company="Firma GmbH")

    assert lead["owner"]["email"] == "jan@techpol.example"
    assert told(lead["id"], jan) == [by_email(jan)]  # medium priority: no SMS by default
    assert mail_to(lead["id"], jan).subject == "New lead for you: Zofia, Firma GmbH"
    assert notified(lead["id"]) == ["jan@techpol.example"]


def test_territory_lead_tells_the_territory_owner(api, kasia):
    lead = send(api, email="biuro@huta-katowice.example", region="slaskie", company="Huta Katowice")

    assert lead["owner"]["email"] == "kasia@techpol.example"
    assert told(lead["id"], kasia) == [by_email(kasia)]
    assert "Why you: Rule 11 “Territory → territory owner”: matches" in mail_to(lead["id"], kasia).body


def test_fallback_pool_lead_tells_the_rep_in_turn(api, marek):
    lead = send(api, email="ktos@nic.example")

    assert lead["owner"]["email"] == "marek@techpol.example"
    assert lead["rule"] is None
    assert told(lead["id"], marek) == [by_email(marek)]
    assert "Why you: No rule matched: the lead goes to the fallback pool. · Juniors: Marek Zieliński is next in turn" in mail_to(lead["id"], marek).body
    assert notified(lead["id"]) == ["marek@techpol.example"]


def test_the_rep_on_duty_is_told_when_the_rules_rep_is_away(api, kasia, marek):
    kasia.status = Rep.Status.AWAY
    kasia.save()

    lead = send(api, email="sklep@handel.example", industry="E-commerce")

    assert lead["owner"]["email"] == "marek@techpol.example"  # on duty on Tuesday
    assert told(lead["id"], kasia) == []
    assert told(lead["id"], marek) == [by_email(marek)]
    assert "is away: the lead goes to the on-duty rep" in mail_to(lead["id"], marek).body


def test_account_lead_is_one_email_to_the_account_manager_not_two(api, tomek):
    lead = send(api, email="zakupy@hutastal.example", company="Huta Stal")

    assert lead["owner"]["email"] == "tomek@techpol.example"
    assert told(lead["id"], tomek) == [by_email(tomek)]  # the rule's own e-mail; the default notice adds no second
    assert mail_to(lead["id"], tomek).subject.startswith("Your account Huta Stal S.A.")
    assert notified(lead["id"]) == ["tomek@techpol.example"]


def test_repeat_lead_tells_the_previous_owner_once(api, kasia):
    first = send(api, email="staly@klient.example", source="demo_request")
    assert first["owner"]["email"] == "kasia@techpol.example"

    again = send(api, email="staly@klient.example", company="Klient")

    assert again["owner"]["email"] == "kasia@techpol.example"
    assert told(again["id"], kasia) == [by_email(kasia)]
    assert mail_to(again["id"], kasia).subject.startswith("Repeat lead")


def test_no_duplicate_sms_when_the_rule_already_texts_the_owner(api, tomek):
    # Rule 7 texts Tomek; a demo request is critical, so his own notice wants e-mail and SMS too.
    lead = send(api, email="it@duza-firma.example", company_size=900, source="demo_request", phone="+48 501 000 000")

    assert lead["owner"]["email"] == "tomek@techpol.example"
    assert told(lead["id"], tomek) == [by_email(tomek), by_sms(tomek)]  # one row per channel
    sms = OutboxMessage.objects.get(lead_id=lead["id"], recipient=phone_normalise(tomek.phone))
    assert sms.template == "notifications/sms_alert.txt"  # the rule's, sent first


def test_calling_owner_notify_again_for_the_same_event_queues_nothing(api, kasia):
    lead_id = send(api, email="cto@sklep.example", source="demo_request")["id"]
    lead = Lead.objects.get(pk=lead_id)
    event = lead.events.get(type=LeadEvent.Type.ASSIGNED)
    before = OutboxMessage.objects.count(), LeadEvent.objects.count()

    assert owner_notify(lead=lead, event=event, reason=OwnerReason.ROUTED) == []

    assert (OutboxMessage.objects.count(), LeadEvent.objects.count()) == before


def test_manual_reassign_tells_the_new_owner(api, marek, ola, demo):
    lead_id = send(api, email="ktos@nic.example")["id"]
    manager = get_user_model().objects.get(username="manager")

    with time_machine.travel(TUESDAY_10, tick=False):
        lead_reassign(lead=Lead.objects.get(pk=lead_id), to_rep=ola, by=manager, reason="Marek is on a course", now=TUESDAY_10)

    assert told(lead_id, ola) == [by_email(ola)]
    message = mail_to(lead_id, ola)
    assert message.subject == "Reassigned to you: Zofia"
    assert "moved by: Magda Manager" in message.body and "Marek is on a course" in message.body
    assert f"/my-leads/{lead_id}/" in message.body
    assert notified(lead_id) == ["marek@techpol.example", "ola@techpol.example"]


def test_sla_reassignment_tells_the_next_rep_of_the_pool(api, kasia, marek):
    lead_id = send(api, email="cto@sklep.example", source="demo_request")["id"]

    with time_machine.travel(datetime(2026, 11, 17, 10, 30, tzinfo=WARSAW), tick=False):
        sla_tick(now=datetime(2026, 11, 17, 10, 30, tzinfo=WARSAW))

    lead = Lead.objects.get(pk=lead_id)
    assert lead.owner == marek
    assert told(lead_id, marek) == [by_email(marek), by_sms(marek)]  # critical
    message = mail_to(lead_id, marek)
    assert message.subject == "[CRITICAL] Reassigned to you: Zofia"
    assert f"/my-leads/{lead_id}/" in message.body
    assert notified(lead_id)[-1] == "marek@techpol.example"

    with time_machine.travel(datetime(2026, 11, 17, 10, 31, tzinfo=WARSAW), tick=False):
        sla_tick(now=datetime(2026, 11, 17, 10, 31, tzinfo=WARSAW))
    assert told(lead_id, marek) == [by_email(marek), by_sms(marek)]  # a second sweep tells nobody again


# ---------------------------------------------------------------------------------------------- preferences


def test_sms_is_off_for_non_critical_leads_by_default_and_the_rep_can_turn_it_on(api, marek):
    first = send(api, email="a@nic.example")
    assert told(first["id"], marek) == [by_email(marek)]

    marek.notify_noncritical = ["slack", "teams", "sms"]
    marek.save()
    ola_turn = send(api, email="b@nic.example")  # Ola's turn in the Juniors pool
    third = send(api, email="c@nic.example")

    assert ola_turn["owner"]["email"] == "ola@techpol.example"
    assert third["owner"]["email"] == "marek@techpol.example"
    assert told(third["id"], marek) == [by_email(marek), by_sms(marek)]


def test_slack_message_to_the_rep_mentions_them_and_can_be_turned_off_for_non_critical_leads(api, marek):
    slack = Channel.objects.get(name="Slack #sales-alerts")
    slack.config = {**slack.config, "default": True}
    slack.save()
    marek.notify_via = ["email", "slack"]
    marek.slack_member_id = "U024BE7LH"
    marek.save()

    lead = send(api, email="a@nic.example")
    (chat,) = OutboxMessage.objects.filter(lead_id=lead["id"], channel__kind=Channel.Kind.SLACK)
    assert chat.payload["mention"] == "U024BE7LH"
    assert chat.payload["lead_url"].endswith(f"/my-leads/{lead['id']}/")

    marek.notify_noncritical = []
    marek.save()
    send(api, email="b@nic.example")  # Ola's turn
    later = send(api, email="c@nic.example")
    assert later["owner"]["email"] == "marek@techpol.example"
    assert told(later["id"], marek) == [by_email(marek)]


def test_email_goes_out_even_to_a_rep_who_asked_only_for_sms(api, kasia):
    kasia.notify_via = ["sms"]
    kasia.save()

    lead = send(api, email="cto@sklep.example", source="demo_request")

    assert told(lead["id"], kasia) == [by_email(kasia), by_sms(kasia)]


def test_the_message_is_in_the_reps_language_and_time_zone(api, kasia):
    kasia.notify_language = "pl"
    kasia.notify_time_zone = "Europe/London"
    kasia.save()

    lead = send(api, email="cto@sklep.example", source="demo_request", company="Sklep")

    message = mail_to(lead["id"], kasia)
    assert message.subject == "[KRYTYCZNY] Nowy lead dla Ciebie: Zofia, Sklep"
    assert "Dlaczego ty:" in message.body
    assert "09:15" in message.body and "10:15" not in message.body  # London is an hour behind Warsaw


# ---------------------------------------------------------------------------------------------- nobody


def test_a_lead_nobody_can_take_alerts_anna_at_once(api, anna, marek, ola, kasia):
    for rep in (marek, ola):  # the fallback pool, and Marek is on duty on Tuesdays
        rep.status = Rep.Status.AWAY
        rep.save()

    lead = send(api, email="ktos@nic.example", company="Nic", phone="+48 700 000 000")

    assert lead["status"] == "unassigned"
    assert told(lead["id"], anna) == [by_email(anna)]  # medium priority: e-mail, no SMS
    message = mail_to(lead["id"], anna)
    assert message.subject == "[UNASSIGNED] Nobody could take this lead: Zofia, Nic"
    assert "+48 700 000 000" in message.body
    assert "Why: " in message.body and "fallback pool" in message.body
    assert f"/admin/routing/lead/{lead['id']}/change/" in message.body
    assert notified(lead["id"]) == ["anna@techpol.example"]
    assert told(lead["id"], kasia) == [] and told(lead["id"], marek) == []


def test_a_disqualified_lead_tells_nobody(api, anna):
    lead = send(api, email="jan@gmail.com")

    assert lead["status"] == "disqualified"
    assert notified(lead["id"]) == []
    assert not OutboxMessage.objects.filter(lead_id=lead["id"]).exclude(recipient="jan@gmail.com").exists()


def test_a_notice_that_cannot_be_queued_does_not_cost_the_lead(api, marek, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("template store unavailable")

    monkeypatch.setattr("notifications.services.internal_compose", broken)

    lead = send(api, email="ktos@nic.example")

    assert lead["owner"]["email"] == "marek@techpol.example"  # stored and routed all the same
    assert told(lead["id"], marek) == []
    (line,) = LeadEvent.objects.filter(lead_id=lead["id"], type=LeadEvent.Type.NOTIFICATION)
    assert line.data["failed"] is True and "could not be queued" in line.detail


def test_marek_turns_sms_on_for_non_critical_leads_himself_on_his_page(api, marek, ola):
    page = Client()
    page.force_login(marek.user)
    assert 'id="my-notifications"' in page.get("/my-leads/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert page.post("/my-leads/notifications/", {"kinds": ["sms", "slack"]}).status_code == 302
    marek.refresh_from_db()
    ola.refresh_from_db()
    assert marek.notify_noncritical == ["slack", "sms"] and ola.notify_noncritical == ["slack", "teams"]  # only his own
    send(api, email="a@nic.example")  # Marek's turn in the Juniors pool
    ola_turn = send(api, email="b@nic.example")
    third = send(api, email="c@nic.example")
    assert ola_turn["owner"]["email"] == "ola@techpol.example"
    assert told(third["id"], marek) == [by_email(marek), by_sms(marek)]


def test_an_unknown_channel_changes_nothing(marek):
    page = Client()
    page.force_login(marek.user)
    page.post("/my-leads/notifications/", {"kinds": ["pigeon"]})
    marek.refresh_from_db()
    assert marek.notify_noncritical == ["slack", "teams"]
