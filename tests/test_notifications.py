"""Rule actions, SLA notices and autoresponses of the TechPol demo, end to end through the outbox.

Each action is driven through `rule_actions_carry_out` (or `escalation_notify` / `lead_autorespond`) with
after-commit callbacks executed and django-q2 in sync mode, so the message really goes out: HTTP to a
recording server on 127.0.0.1, e-mail to Django's locmem backend.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from flows.services.leads import rule_actions_carry_out
from notifications.models import Channel, OutboxMessage
from notifications.services import escalation_notify, lead_autorespond
from routing.models import Activity, Lead, LeadEvent, Rule, Task
from tests.factories import LeadFactory
from tests.http_receiver import receiver  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

SLACK_SECRET_PATH = "/services/T0SECRET1/B0SECRET2/xoxSlackSecretPart"
SMS_TOKEN = "Bearer sms-gateway-SECRET-token"
WEBHOOK_KEY = "whsec-campaign-SECRET-key"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The demo sets nine passwords; the default hasher makes that seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def q_sync(monkeypatch):
    """django-q2 runs each task at once, in the test's thread (the real async_task -> worker path)."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def wired(demo, receiver):  # noqa: F811
    """The demo's Slack / Teams / SMS / webhook channels pointed at the local receiver, each at its own path."""
    paths = {
        "Slack #sales-alerts": "/alerts" + SLACK_SECRET_PATH,
        "Slack #management": "/management" + SLACK_SECRET_PATH,
        "Teams: Sales": "/teams/webhookb2/SECRET-teams",
        "SMS gateway": "/sms/send",
        "Mailing campaign webhook": "/campaign/enrol",
    }
    for name, path in paths.items():
        Channel.objects.filter(name=name).update(url=receiver.url(path))
    Channel.objects.filter(name="SMS gateway").update(secret=SMS_TOKEN)
    Channel.objects.filter(name="Mailing campaign webhook").update(secret=WEBHOOK_KEY)
    return receiver


def requests_to(receiver, prefix):  # noqa: F811
    return [r for r in receiver.requests if r.path.startswith(prefix)]


@pytest.fixture
def carry_out(demo, django_capture_on_commit_callbacks):
    """Route a demo lead by the rule at `position` to `owner`, then carry out the rule's actions and commit."""

    def run(position: int, owner=None, **fields) -> Lead:
        rule = Rule.objects.get(position=position)
        status = Lead.Status.ASSIGNED if owner else Lead.Status.DISQUALIFIED
        lead = LeadFactory(rule=rule, owner=owner, status=status, **fields)
        event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ASSIGNED, at=timezone.now(), rep=owner)
        with django_capture_on_commit_callbacks(execute=True):
            rule_actions_carry_out(lead=lead, rule=rule, event=event)
        return lead

    return run


# ---------------------------------------------------------------------------------------------- rule 1, 2, 11: e-mail the lead


def test_student_gets_the_ebooks_mail_in_polish(carry_out):
    lead = carry_out(1, email="ania@uczelnia.example", first_name="Ania", job_title="Studentka", language="pl")

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ania@uczelnia.example"]
    assert sent.subject == "Darmowe e-booki dla Ciebie"
    assert "Dzień dobry Ania" in sent.body
    message = OutboxMessage.objects.get(lead=lead)
    assert message.template == "notifications/lead/ebooks.pl.txt"
    assert message.status == OutboxMessage.Status.SENT
    assert lead.events.filter(type=LeadEvent.Type.AUTORESPONSE).count() == 1


def test_english_form_gets_the_ebooks_mail_in_english(carry_out):
    carry_out(1, email="tom@uni.example", first_name="Tom", job_title="Intern", language="en")

    assert mail.outbox[0].subject == "Free e-books for you"
    assert "Hello Tom" in mail.outbox[0].body


def test_language_without_templates_falls_back_to_english(carry_out):
    lead = carry_out(1, job_title="Stagiaire", language="fr")

    assert OutboxMessage.objects.get(lead=lead).template == "notifications/lead/ebooks.en.txt"


def test_free_mail_lead_is_asked_politely_for_a_business_address(carry_out):
    carry_out(2, email="jan.kowalski@wp.pl", first_name="Jan", language="pl")

    sent = mail.outbox[0]
    assert sent.to == ["jan.kowalski@wp.pl"]
    assert sent.subject == "Prosimy o kontakt z adresu firmowego"
    assert "uprzejmie prosimy" in sent.body and "wp.pl" in sent.body


def test_demo_request_gets_the_calendar_booking_link(carry_out, kasia):
    carry_out(12, owner=kasia, email="cto@firma.example", source="demo_request", company="Firma", language="pl")

    sent = mail.outbox[0]
    assert sent.to == ["cto@firma.example"]
    assert "https://techpol.example/book" in sent.body
    assert "Kasia Nowak" in sent.body


# ---------------------------------------------------------------------------------------------- rule 3, 4: e-mail the owner


def test_account_lead_notifies_the_account_manager_with_a_link(carry_out, tomek, settings):
    settings.SITE_URL = "https://leads.techpol.example"
    lead = carry_out(3, owner=tomek, email="zakupy@hutastal.example", first_name="Ewa", company="Huta Stal", priority="medium")

    sent = mail.outbox[0]
    assert sent.to == ["tomek@techpol.example"]
    assert "Huta Stal S.A." in sent.subject
    assert f"https://leads.techpol.example/admin/routing/lead/{lead.pk}/change/" in sent.body
    assert "Priority: Medium" in sent.body
    event = lead.events.get(type=LeadEvent.Type.NOTIFICATION)
    assert event.rep == tomek and "tomek@techpol.example" in event.detail


def test_repeat_lead_notice_links_the_earlier_leads(carry_out, kasia):
    earlier = LeadFactory(email="stały@klient.example", owner=kasia, status=Lead.Status.CONTACTED)
    lead = carry_out(4, owner=kasia, email="stały@klient.example", first_name="Stały")

    sent = mail.outbox[0]
    assert sent.to == ["kasia@techpol.example"]
    assert sent.subject.startswith("Repeat lead")
    assert f"/admin/routing/lead/{earlier.pk}/change/" in sent.body
    assert f"/admin/routing/lead/{lead.pk}/change/" in sent.body


# ---------------------------------------------------------------------------------------------- rule 5, 6: Slack


def test_vip_lead_posts_an_urgent_notice_to_management_on_slack(carry_out, anna, wired):
    carry_out(5, owner=anna, email="ceo@bigbank.example", company="Big Bank", first_name="Olga")

    (request,) = requests_to(wired, "/management/")
    body = request.json()
    assert body["text"].startswith("[URGENT] VIP lead: Olga, Big Bank")
    assert "bigbank.example" in json.dumps(body["attachments"], ensure_ascii=False)
    assert mail.outbox == []  # Slack only


def test_awaria_lead_puts_a_red_alert_on_slack(carry_out, piotr, wired):
    lead = carry_out(6, owner=piotr, message="Mamy AWARIĘ linii — awaria sterownika", company="Zakład", priority="critical")

    (request,) = requests_to(wired, "/alerts/")
    body = request.json()
    assert request.header("Content-Type") == "application/json"
    assert body["attachments"][0]["color"] == "#D00000"
    assert ":rotating_light:" in body["blocks"][0]["text"]["text"]
    assert "Priority: *Critical*" in json.dumps(body, ensure_ascii=False)
    assert f"/admin/routing/lead/{lead.pk}/change/" in json.dumps(body)
    assert OutboxMessage.objects.get(lead=lead).status == OutboxMessage.Status.SENT


def test_slack_notice_mentions_the_rep_by_member_id(demo, piotr, wired, django_capture_on_commit_callbacks):
    piotr.slack_member_id = "U024BE7LH"
    piotr.save()
    lead = LeadFactory(owner=piotr, priority="critical")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.REMINDER, at=timezone.now(), rep=piotr)
    alerts = Channel.objects.get(name="Slack #sales-alerts")

    with django_capture_on_commit_callbacks(execute=True):
        escalation_notify(lead=lead, kind="remind", rep=piotr, channel=alerts, event=event)

    body = requests_to(wired, "/alerts/")[0].json()
    assert body["text"].startswith("<@U024BE7LH> ")
    assert body["blocks"][0]["text"]["text"].startswith("<@U024BE7LH> ")


# ---------------------------------------------------------------------------------------------- rule 7: SMS


def test_enterprise_lead_sends_an_sms_request_to_the_owners_phone(carry_out, tomek, wired):
    lead = carry_out(8, owner=tomek, company='Stal "Północ"', company_size=1200, first_name="Adam", phone="+48 501 000 000")

    (request,) = requests_to(wired, "/sms/")
    assert request.method == "POST"
    assert request.header("Authorization") == SMS_TOKEN
    body = request.json()  # valid JSON although the company name has quotes
    assert body["to"] == "+48600100001"
    assert body["text"].startswith('Enterprise lead Stal "Północ" (1200 empl.)')
    assert f"/admin/routing/lead/{lead.pk}/change/" in body["text"]
    assert len(body["text"]) <= 459


def test_rep_who_does_not_want_sms_gets_the_notice_by_email(carry_out, tomek, wired):
    tomek.notify_via = ["email"]
    tomek.save()
    carry_out(8, owner=tomek, company_size=900)

    assert requests_to(wired, "/sms/") == []
    assert mail.outbox[0].to == ["tomek@techpol.example"]


def test_rep_without_a_phone_gets_the_sms_notice_by_email(carry_out, tomek, wired):
    tomek.phone = ""
    tomek.save()
    carry_out(8, owner=tomek, company_size=900)

    assert requests_to(wired, "/sms/") == []
    assert mail.outbox[0].to == ["tomek@techpol.example"]


# ---------------------------------------------------------------------------------------------- rule 8, 9, 10: records


def test_german_lead_is_tagged_export_pipeline(carry_out, jan):
    lead = carry_out(9, owner=jan, language="de")

    assert list(lead.tags.values_list("name", flat=True)) == ["export pipeline"]
    assert lead.events.filter(type=LeadEvent.Type.ACTION, detail__contains="export pipeline").exists()
    assert OutboxMessage.objects.filter(lead=lead).count() == 0


def test_e_commerce_lead_gets_the_case_study_note(carry_out, kasia):
    lead = carry_out(10, owner=kasia, industry="E-commerce")

    note = lead.activities.get()
    assert note.kind == Activity.Kind.NOTE
    assert "https://techpol.example/case-studies/e-commerce" in note.outcome
    assert lead.first_response_at is None  # a note is not a response


def test_territory_lead_gets_a_meeting_task_for_the_owner_due_in_business_time(carry_out, kasia):
    from sla.models import SlaPolicy

    policy = SlaPolicy.objects.get(name="Default")
    # Friday 2026-11-20 15:00 Warsaw: 8 business hours later is Monday 15:00.
    at = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    rule = Rule.objects.get(position=11)
    lead = LeadFactory(rule=rule, owner=kasia, status=Lead.Status.ASSIGNED, region="Śląskie", sla_policy=policy)
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ASSIGNED, at=at, rep=kasia)
    rule_actions_carry_out(lead=lead, rule=rule, event=event)

    task = Task.objects.get(lead=lead)
    assert task.assignee == kasia
    assert task.title == "Propose an in-person meeting"
    assert task.due_at == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def test_carrying_out_the_same_event_twice_adds_nothing(carry_out, kasia, django_capture_on_commit_callbacks):
    lead = carry_out(11, owner=kasia, region="Śląskie")
    event = lead.events.get(type=LeadEvent.Type.ASSIGNED)
    with django_capture_on_commit_callbacks(execute=True):
        rule_actions_carry_out(lead=lead, rule=lead.rule, event=event)

    assert Task.objects.filter(lead=lead).count() == 1
    assert lead.events.filter(type=LeadEvent.Type.ACTION).count() == 1


def test_repeated_notice_for_the_same_event_is_one_message(carry_out, tomek, wired, django_capture_on_commit_callbacks):
    lead = carry_out(8, owner=tomek, company_size=900)
    event = lead.events.get(type=LeadEvent.Type.ASSIGNED)
    with django_capture_on_commit_callbacks(execute=True):
        rule_actions_carry_out(lead=lead, rule=lead.rule, event=event)

    assert len(requests_to(wired, "/sms/")) == 1
    assert lead.events.filter(type=LeadEvent.Type.NOTIFICATION).count() == 1


# ---------------------------------------------------------------------------------------------- rule 12: webhook


def test_webinar_lead_is_enrolled_by_a_signed_webhook(carry_out, marek, wired):
    lead = carry_out(13, owner=marek, source="webinar", email="uczestnik@firma.example", first_name="Ola")

    (request,) = requests_to(wired, "/campaign/")
    body = request.json()
    assert body["event"] == "campaign_enrol"
    assert body["options"]["campaign"] == "webinar-followup"
    assert body["lead"]["email"] == "uczestnik@firma.example" and body["lead"]["id"] == lead.pk
    timestamp = request.header("X-Leadrouter-Timestamp")
    expected = hmac.new(WEBHOOK_KEY.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.header("X-Leadrouter-Signature") == f"sha256={expected}"
    assert request.header("X-Leadrouter-Delivery") == OutboxMessage.objects.get(lead=lead).key


# ---------------------------------------------------------------------------------------------- no URL: by e-mail


def test_channel_without_url_delivers_by_email_so_people_still_see_it(carry_out, piotr, settings):
    settings.NOTIFICATIONS_FALLBACK_EMAIL = "sprzedaz@techpol.example"
    carry_out(6, owner=piotr, message="awaria", priority="critical")  # the demo without --notify-url

    sent = mail.outbox[0]
    assert sent.subject.startswith("[Slack #sales-alerts] [CRITICAL]")
    assert sent.to == ["manager@techpol.example"]  # the demo channel's own e-mail (config["email"])


def test_channel_without_url_or_address_falls_back_to_the_configured_email(carry_out, piotr, settings):
    settings.NOTIFICATIONS_FALLBACK_EMAIL = "sprzedaz@techpol.example"
    Channel.objects.filter(name="Slack #sales-alerts").update(config={})
    carry_out(6, owner=piotr, message="awaria", priority="critical")

    assert mail.outbox[0].to == ["sprzedaz@techpol.example"]


# ---------------------------------------------------------------------------------------------- Teams


def test_teams_channel_gets_an_adaptive_card_marked_critical(demo, wired, django_capture_on_commit_callbacks):
    lead = LeadFactory(priority="critical", company="Zakład")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=timezone.now())
    teams = Channel.objects.get(name="Teams: Sales")

    with django_capture_on_commit_callbacks(execute=True):
        escalation_notify(lead=lead, kind="notify_channel", rep=None, channel=teams, event=event)

    card = requests_to(wired, "/teams/")[0].json()["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["inlines"][0]["color"] == "Attention"
    assert card["content"]["actions"][0]["url"].endswith(f"/admin/routing/lead/{lead.pk}/change/")


def test_teams_channel_can_use_the_legacy_message_card(demo, wired, django_capture_on_commit_callbacks):
    teams = Channel.objects.get(name="Teams: Sales")
    teams.config = {"card": "messagecard"}
    teams.save()
    lead = LeadFactory(priority="critical")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        escalation_notify(lead=lead, kind="notify_channel", rep=None, channel=teams, event=event)

    card = requests_to(wired, "/teams/")[0].json()
    assert card["@type"] == "MessageCard" and card["themeColor"] == "D00000"


# ---------------------------------------------------------------------------------------------- SLA steps


def test_reminder_reaches_the_owner_on_every_channel_they_asked_for(demo, kasia, wired, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=kasia, priority="critical", first_name="Zenon")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.REMINDER, at=timezone.now(), rep=kasia)

    with django_capture_on_commit_callbacks(execute=True):
        escalation_notify(lead=lead, kind="remind", rep=kasia, channel=None, event=event)

    assert [m.to for m in mail.outbox] == [["kasia@techpol.example"]]  # demo reps want e-mail and SMS
    assert mail.outbox[0].subject == "[CRITICAL] Reminder: Zenon is waiting for your call"
    (sms,) = requests_to(wired, "/sms/")
    assert sms.json()["to"] == "+48600100002"
    assert lead.events.filter(type=LeadEvent.Type.NOTIFICATION, rep=kasia).count() == 1


def test_rep_without_preferences_is_reminded_by_email(demo, kasia, wired, django_capture_on_commit_callbacks):
    kasia.notify_via = []
    kasia.save()
    lead = LeadFactory(owner=kasia)
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.REMINDER, at=timezone.now(), rep=kasia)

    with django_capture_on_commit_callbacks(execute=True):
        escalation_notify(lead=lead, kind="remind", rep=kasia, channel=None, event=event)

    assert [m.to for m in mail.outbox] == [["kasia@techpol.example"]]
    assert wired.requests == []


def test_reassigned_lead_tells_the_new_owner(demo, ola, django_capture_on_commit_callbacks):
    ola.notify_via = ["email"]
    ola.save()
    lead = LeadFactory(owner=ola, first_name="Bartek")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.REASSIGNED, at=timezone.now(), rep=ola)

    with django_capture_on_commit_callbacks(execute=True):
        escalation_notify(lead=lead, kind="reassigned", rep=ola, channel=None, event=event)

    assert mail.outbox[0].to == ["ola@techpol.example"]
    assert mail.outbox[0].subject == "Reassigned to you: Bartek"


def test_team_lead_alert_without_a_rep_goes_to_every_team_lead(demo, anna, django_capture_on_commit_callbacks):
    anna.notify_via = ["email"]
    anna.save()
    lead = LeadFactory(first_name="Zofia")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        escalation_notify(lead=lead, kind="alert_team_lead", rep=None, channel=None, event=event)

    assert [m.to for m in mail.outbox] == [["anna@techpol.example"]]
    assert mail.outbox[0].subject.startswith("[ESCALATION]")


# ---------------------------------------------------------------------------------------------- autoresponses


def test_after_hours_autoresponse_names_the_opening_in_the_leads_language(demo, django_capture_on_commit_callbacks):
    lead = LeadFactory(language="pl", first_name="Marta")

    with django_capture_on_commit_callbacks(execute=True):
        lead_autorespond(lead=lead, template="after_hours", context={"opens_label": "poniedziałek 08:00"}, event_key="sla.after_hours")
        lead_autorespond(lead=lead, template="after_hours", context={"opens_label": "poniedziałek 08:00"}, event_key="sla.after_hours")

    assert len(mail.outbox) == 1  # same event key: once
    assert mail.outbox[0].subject == "Otrzymaliśmy Twoją wiadomość"
    assert "zadzwoni w najbliższym dniu roboczym: poniedziałek 08:00." in mail.outbox[0].body
    assert lead.events.filter(type=LeadEvent.Type.AUTORESPONSE).count() == 1


def test_thank_you_autoresponse_in_english(demo, django_capture_on_commit_callbacks):
    lead = LeadFactory(language="en")

    with django_capture_on_commit_callbacks(execute=True):
        lead_autorespond(lead=lead, template="thank_you", context={}, event_key="sla.thank_you")

    assert mail.outbox[0].subject == "Thank you for signing up"


def test_unknown_template_still_sends_the_generic_message(demo, django_capture_on_commit_callbacks):
    lead = LeadFactory(language="pl")

    with django_capture_on_commit_callbacks(execute=True):
        lead_autorespond(lead=lead, template="no_such_template", context={}, event_key="x")

    assert mail.outbox[0].subject == "Dziękujemy za wiadomość"


def test_nothing_is_queued_or_sent_when_the_transaction_rolls_back(carry_out, tomek, wired, django_capture_on_commit_callbacks):
    from django.db import transaction

    rule = Rule.objects.get(position=8)
    lead = LeadFactory(rule=rule, owner=tomek, company_size=900)
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ASSIGNED, at=timezone.now(), rep=tomek)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                rule_actions_carry_out(lead=lead, rule=rule, event=event)
                raise RuntimeError("intake failed later")
        except RuntimeError:
            pass

    assert callbacks == []
    assert OutboxMessage.objects.count() == 0
    assert wired.requests == []


# ---------------------------------------------------------------------------------------------- admin


@pytest.fixture
def manager_client(client, demo):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="manager")
    user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


def test_channel_admin_never_shows_the_url_or_the_secret(manager_client, wired):
    channel = Channel.objects.get(name="Mailing campaign webhook")

    listing = manager_client.get(reverse("admin:notifications_channel_changelist")).content.decode()
    form = manager_client.get(reverse("admin:notifications_channel_change", args=[channel.pk])).content.decode()

    for page in (listing, form):
        assert "/campaign/enrol" not in page and WEBHOOK_KEY not in page
        assert SLACK_SECRET_PATH not in page
    assert f"http://127.0.0.1:{wired.port}/…" in listing


def test_channel_admin_keeps_the_secret_when_the_field_is_left_empty(manager_client, wired):
    channel = Channel.objects.get(name="Mailing campaign webhook")
    url = reverse("admin:notifications_channel_change", args=[channel.pk])

    response = manager_client.post(url, {"name": channel.name, "kind": "webhook", "url": "", "secret": "", "config": "{}", "is_active": "on"})

    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.secret == WEBHOOK_KEY and channel.url.endswith("/campaign/enrol")


def test_channel_admin_refuses_a_non_http_url(manager_client, demo):
    channel = Channel.objects.get(name="Slack #sales-alerts")
    url = reverse("admin:notifications_channel_change", args=[channel.pk])

    response = manager_client.post(url, {"name": channel.name, "kind": "slack", "url": "file:///etc/passwd", "config": "{}", "is_active": "on"})

    assert response.status_code == 200
    channel.refresh_from_db()
    assert channel.url == ""


def test_channel_admin_test_message_reaches_the_channel(manager_client, wired, django_capture_on_commit_callbacks):
    channel = Channel.objects.get(name="Slack #sales-alerts")

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(reverse("admin:notifications_channel_changelist"), {"action": "test_message_send", "_selected_action": [channel.pk]})

    assert response.status_code == 302
    (request,) = requests_to(wired, "/alerts/")
    assert "Leadrouter test message for Slack #sales-alerts" in request.json()["text"]


def test_outbox_admin_lists_messages_with_status_and_error(manager_client, carry_out, tomek, wired):
    wired.respond(404, "no_such_hook")
    lead = carry_out(8, owner=tomek, company_size=900)

    page = manager_client.get(reverse("admin:notifications_outboxmessage_changelist") + "?status__exact=failed").content.decode()

    message = OutboxMessage.objects.get(lead=lead)
    assert message.status == OutboxMessage.Status.FAILED
    assert "HTTP 404" in page and "+48600100001" in page
    detail = manager_client.get(reverse("admin:notifications_outboxmessage_change", args=[message.pk])).content.decode()
    assert "no_such_hook" in detail and "/sms/send" not in detail


def test_channel_admin_refuses_an_sms_template_that_does_not_give_json(manager_client, demo):
    channel = Channel.objects.get(name="SMS gateway")
    url = reverse("admin:notifications_channel_change", args=[channel.pk])
    config = json.dumps({"method": "POST", "body_template": '{"to": {{ to }}, "text": "{{ text }}"}'})

    response = manager_client.post(url, {"name": channel.name, "kind": "sms", "config": config, "is_active": "on"})

    assert response.status_code == 200
    assert "does not give valid JSON" in response.content.decode()


def test_message_for_a_channel_switched_off_after_queueing_is_not_sent(carry_out, piotr, wired):
    from notifications.tasks import outbox_send

    Channel.objects.filter(name="Slack #sales-alerts").update(is_active=False)
    lead = LeadFactory(owner=piotr)
    message = OutboxMessage.objects.create(key="k", lead=lead, channel=Channel.objects.get(name="Slack #sales-alerts"), recipient="channel")

    assert outbox_send(message.pk) == "failed"
    assert wired.requests == []


def test_a_broken_action_is_logged_on_the_lead_and_the_next_action_still_runs(carry_out, jan, monkeypatch):
    from routing.models import RuleAction

    rule = Rule.objects.get(position=9)
    RuleAction.objects.create(rule=rule, position=5, kind=RuleAction.Kind.NOTE, text="Mówi po niemiecku")

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("routing.services.actions.Tag.objects.get_or_create", broken)
    lead = carry_out(9, owner=jan, language="de")

    assert lead.tags.count() == 0
    assert lead.events.filter(type=LeadEvent.Type.ACTION, detail__startswith="Action failed").count() == 1
    assert lead.activities.get().outcome == "Mówi po niemiecku"


def test_close_action_closes_the_lead_and_stops_escalation(carry_out, kasia):
    from routing.models import RuleAction

    rule = Rule.objects.get(position=10)
    RuleAction.objects.create(rule=rule, position=5, kind=RuleAction.Kind.CLOSE, text="spam")
    lead = carry_out(10, owner=kasia, industry="E-commerce", sla_next_step_at=timezone.now())

    lead.refresh_from_db()
    assert lead.status == Lead.Status.DISQUALIFIED and lead.sla_next_step_at is None
    assert lead.events.filter(detail="Closed by the rule: spam").exists()


def test_notify_a_named_rep_and_the_team_lead_by_email(carry_out, kasia, marek, anna):
    from routing.models import RuleAction

    rule = Rule.objects.get(position=10)
    email = Channel.objects.get(name="E-mail")
    R = RuleAction.Recipient
    RuleAction.objects.create(rule=rule, position=5, kind=RuleAction.Kind.NOTIFY, channel=email, recipient=R.REP, recipient_rep=marek, template="notify")
    RuleAction.objects.create(rule=rule, position=6, kind=RuleAction.Kind.NOTIFY, channel=email, recipient=R.TEAM_LEAD, template="notify")
    carry_out(10, owner=kasia, industry="E-commerce", first_name="Iza", company="Sklep")

    assert sorted(m.to[0] for m in mail.outbox) == ["anna@techpol.example", "marek@techpol.example"]
    assert all(m.subject == "Lead: Iza, Sklep" for m in mail.outbox)


def test_internal_messages_stay_in_the_site_language_when_a_polish_request_is_active(carry_out, piotr, wired):
    from django.utils import translation

    with translation.override("pl"):
        carry_out(6, owner=piotr, message="awaria", priority="critical")

    body = requests_to(wired, "/alerts/")[0].json()
    assert body["text"].startswith("[CRITICAL]")
    assert "Priority: *Critical*" in json.dumps(body, ensure_ascii=False)
    assert ["Priority", "Critical"] in OutboxMessage.objects.get().payload["facts"]


def test_secret_named_channel_options_are_masked_in_the_admin_and_kept_on_save(demo):
    from django.contrib.auth import get_user_model
    from django.test import Client

    channel = Channel.objects.get(name="SMS gateway")
    channel.config = {**channel.config, "api_key": "KEYSECRET123"}
    channel.save()
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@techpol.example", "x"))
    page = client.get(f"/admin/notifications/channel/{channel.pk}/change/").content.decode()
    assert "KEYSECRET123" not in page
    config = dict(channel.config, api_key="••••••", method="PUT")  # the mask the form shows: unchanged
    client.post(
        f"/admin/notifications/channel/{channel.pk}/change/",
        {"name": channel.name, "kind": channel.kind, "config": json.dumps(config), "is_active": "on"},
    )
    channel.refresh_from_db()
    assert channel.config["api_key"] == "KEYSECRET123" and channel.config["method"] == "PUT"


def test_routing_export_leaves_out_secret_named_channel_options(demo):
    from flows.routing_setup import routing_config_export

    Channel.objects.filter(name="SMS gateway").update(config={"method": "POST", "api_key": "KEYSECRET123"})
    exported = json.dumps(routing_config_export())
    assert "KEYSECRET123" not in exported
