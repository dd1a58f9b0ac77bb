"""The why and the history in the reader's language: a lead that came in through the API (no Polish there) reads in
Polish on Kasia's page and in Magda's admin, in English or Polish on the API by Accept-Language; e-mails to the
lead go out in the form's language when we have its templates, else in the site's, never half and half."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone, translation
from django_q.conf import Conf

from core.messages import Message, dump, join, language_pinned, load
from core.messages import message as _
from notifications.messages import lead_compose, lead_context
from routing.models import Lead, LeadEvent
from routing.selectors import event_detail, explanation_lines
from sla.selectors import lead_sla_terms
from tests.factories import LeadFactory

WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)
DEMO_RULE = "Demo request → Demo pool"


def post(api, **fields):
    return api.post("/api/v1/leads/", data=json.dumps(fields), content_type="application/json")


def logged_in(username: str) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.fixture
def demo_request(demo, api):
    """Zofia's demo request, posted by the website form without any Accept-Language; routed to Kasia."""
    with time_machine.travel(TUESDAY, tick=False):
        response = post(api, email="zofia@fabryka-okien.example", first_name="Zofia", source="demo_request", company_size=12)
    assert response.status_code == 201, response.content
    return response.json()


# ---------------------------------------------------------------------------------------------- the API


def test_an_api_answer_without_accept_language_is_in_the_site_language(demo_request):
    assert demo_request["owner"]["name"] == "Kasia Nowak"
    assert f"Rule 12 “{DEMO_RULE}”: matches — source “demo_request” equals “demo_request”" in demo_request["explanation"]
    assert demo_request["explanation"][-1] == "Assigned to Kasia Nowak."


def test_the_api_reads_the_lead_in_english_or_polish_by_accept_language(demo_request, api):
    english = api.get(f"/api/v1/leads/{demo_request['id']}/", HTTP_ACCEPT_LANGUAGE="en").json()
    polish = api.get(f"/api/v1/leads/{demo_request['id']}/", HTTP_ACCEPT_LANGUAGE="pl").json()

    assert english["explanation"] == demo_request["explanation"]
    assert f"Reguła 12 „{DEMO_RULE}”: pasuje — źródło „demo_request” równa się „demo_request”" in polish["explanation"]
    assert polish["explanation"][-1] == "Przypisano: Kasia Nowak."
    assert "Rule 1 " not in " ".join(polish["explanation"])  # not one English line left
    assigned = {e["type"]: e["detail"] for e in english["events"]}["assigned"]
    assert assigned == f"Assigned to Kasia Nowak by the rule “{DEMO_RULE}”"
    assert {e["type"]: e["detail"] for e in polish["events"]}["assigned"] == f"Przypisano: Kasia Nowak (reguła „{DEMO_RULE}”)"


# ---------------------------------------------------------------------------------------------- the reps' pages and the admin


def test_a_polish_rep_reads_the_why_and_the_history_of_an_api_lead_in_polish(demo_request):
    page = logged_in("kasia").get(f"/my-leads/{demo_request['id']}/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()

    assert f"Reguła 12 „{DEMO_RULE}”: pasuje" in page
    assert "Demo: kolej na Kasia Nowak" in page
    assert f"Przypisano: Kasia Nowak (reguła „{DEMO_RULE}”)" in page
    assert "E-mail do leada w kolejce: Umów prezentację w dogodnym terminie" in page  # the form's language (pl)
    assert "matches —" not in page and "by the rule" not in page and "is next in turn" not in page


def test_her_list_of_leads_says_why_me_in_polish(demo_request):
    page = logged_in("kasia").get("/my-leads/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()

    assert f"Reguła 12 „{DEMO_RULE}”: pasuje" in page and "Przypisano: Kasia Nowak." in page


def test_the_manager_reads_the_lead_in_the_admin_in_polish(demo_request):
    page = logged_in("manager").get(f"/admin/routing/lead/{demo_request['id']}/change/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()

    assert f"Reguła 12 „{DEMO_RULE}”: pasuje" in page
    assert f"Przypisano: Kasia Nowak (reguła „{DEMO_RULE}”)" in page
    assert "by the rule" not in page


def test_the_same_rep_page_in_english_is_english(demo_request):
    page = logged_in("kasia").get(f"/my-leads/{demo_request['id']}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f"Rule 12 “{DEMO_RULE}”: matches" in page and "Reguła" not in page


def test_the_sla_reminder_in_the_history_reads_in_polish(demo_request, api):
    from flows.services.sweep import sla_tick

    sla_tick(now=datetime.fromisoformat(demo_request["sla_due_at"]))
    polish = api.get(f"/api/v1/leads/{demo_request['id']}/", HTTP_ACCEPT_LANGUAGE="pl").json()

    reminders = [e["detail"] for e in polish["events"] if e["type"] == "reminder"]
    assert reminders and reminders[0].startswith("Przypomnienie") and "Kasia Nowak" in reminders[0]


# ---------------------------------------------------------------------------------------------- old rows


def test_an_old_row_with_plain_text_still_reads_as_it_was_written(demo, api):
    kasia = demo["kasia"]
    lead = LeadFactory(owner=kasia, status=Lead.Status.ASSIGNED, explanation=["Rule 1 “Old”: matches — written before codes", "Assigned to Kasia Nowak."])
    LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ASSIGNED, at=timezone.now(), rep=kasia, detail="Assigned the old way")
    lead.refresh_from_db()

    assert explanation_lines(lead) == ["Rule 1 “Old”: matches — written before codes", "Assigned to Kasia Nowak."]
    page = logged_in("kasia").get(f"/my-leads/{lead.pk}/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "Rule 1 “Old”: matches — written before codes" in page and "Assigned the old way" in page
    event = lead.events.get()
    assert event.detail_message is None and event_detail(event) == "Assigned the old way"


# ---------------------------------------------------------------------------------------------- the message type itself


def test_a_message_is_text_now_and_a_code_for_later():
    with translation.override("en"):
        line = _("%(rule)s: no match — %(reasons)s") % {
            "rule": _("Rule %(number)s %(name)s") % {"number": 2, "name": "“Free mail”"},
            "reasons": join("; ", [_("%(field)s is empty") % {"field": _("e-mail")}, "extra.x “1”"]),
        }
        listed = "“a”, “b” " + _("or") + " “c”"
    assert isinstance(line, str) and line == "Rule 2 “Free mail”: no match — e-mail is empty; extra.x “1”"
    stored = json.loads(json.dumps(dump(line)))
    assert stored["m"] == "%(rule)s: no match — %(reasons)s" and stored["p"]["rule"]["p"] == {"number": 2, "name": "“Free mail”"}
    with translation.override("pl"):
        assert str(line) == str(load(stored)) == "Reguła 2 “Free mail”: nie pasuje — e-mail jest puste; extra.x “1”"
        assert str(load(dump(listed))) == "“a”, “b” lub “c”"
    assert isinstance(load(stored), Message) and load("an old line") == "an old line"


def test_a_pinned_language_is_the_one_active_on_entry_and_lines_still_render_for_another_reader():
    """The engine pins the language while it writes a why (Django is asked once, not per Message)."""
    with translation.override("pl"), language_pinned():
        line = _("Rule %(number)s %(name)s") % {"number": 3, "name": "“Demo”"}
        assert line == "Reguła 3 “Demo”" and str(line) == "Reguła 3 “Demo”"
        with language_pinned():  # nested: keeps the outer pin
            assert _("or") == "lub"
    with translation.override("en"):
        assert str(line) == "Rule 3 “Demo”" and _("or") == "or"  # the pin ended with its block


def test_a_translation_that_no_longer_fits_falls_back_to_english_instead_of_failing():
    broken = {"m": "Assigned to %(rep)s.", "p": {"someone": "Kasia"}}
    with translation.override("pl"):
        assert str(load(broken)) == "Assigned to %(rep)s."


# ---------------------------------------------------------------------------------------------- e-mails to the lead


@pytest.fixture
def q_sync(monkeypatch):
    """django-q2 runs each task at once, in the test's thread, so the e-mail really goes out."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_a_german_form_gets_a_german_autoresponse_with_a_german_subject_and_signature(demo, api, q_sync, django_capture_on_commit_callbacks):
    with time_machine.travel(TUESDAY, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = post(api, email="max@uni-berlin.example", first_name="Max", job_title="Student", language="de")
    assert response.status_code == 201, response.content

    sent = mail.outbox[-1]
    assert sent.subject == "Kostenlose E-Books für Sie"
    assert "Hallo Max," in sent.body and "Mit freundlichen Grüßen" in sent.body and "Ihr Vertriebsteam von TechPol" in sent.body
    assert "Kind regards" not in sent.body and "Pozdrawiamy" not in sent.body


def test_a_french_form_without_templates_gets_the_site_language_only(demo, api, q_sync, django_capture_on_commit_callbacks):
    with time_machine.travel(TUESDAY, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = post(api, email="lea@univ-lyon.example", first_name="Léa", job_title="Intern", language="fr")
    assert response.status_code == 201, response.content

    sent = mail.outbox[-1]
    assert sent.subject == "Free e-books for you"
    assert "Hello Léa," in sent.body and "Kind regards" in sent.body and "The TechPol sales team" in sent.body
    assert "Mit freundlichen" not in sent.body and "Pozdrawiamy" not in sent.body


def test_a_german_after_hours_notice_tells_the_opening_in_german(demo):
    friday_evening = datetime(2026, 11, 20, 17, 30, tzinfo=WARSAW)
    lead = LeadFactory(language="de", source="contact_form", submitted_at=friday_evening, status=Lead.Status.ASSIGNED)
    terms = lead_sla_terms(lead=lead, now=friday_evening)
    composed = lead_compose("after_hours", lead, lead_context(lead, **terms.autoresponse.context))

    assert composed.template == "notifications/lead/after_hours.de.txt"
    assert composed.subject == "Wir haben Ihre Nachricht erhalten"
    assert "am nächsten Werktag an: Montag 08:00." in composed.body and "Mit freundlichen Grüßen" in composed.body


def test_a_french_after_hours_notice_is_english_dates_included(demo):
    friday_evening = datetime(2026, 11, 20, 17, 30, tzinfo=WARSAW)
    lead = LeadFactory(language="fr", source="contact_form", submitted_at=friday_evening, status=Lead.Status.ASSIGNED)
    terms = lead_sla_terms(lead=lead, now=friday_evening)
    composed = lead_compose("after_hours", lead, lead_context(lead, **terms.autoresponse.context))

    assert composed.template == "notifications/lead/after_hours.en.txt"
    assert "next working day: Monday 08:00." in composed.body and "Kind regards" in composed.body
