"""The admin reads like the seed's table: branding, the rule list in words with labels and an "also do" column,
history rows in local time only, Polish titles that keep the model's name in the nominative."""

import json
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from reps.models import Rep
from routing.models import Lead, LeadEvent


@pytest.fixture
def manager_client(demo):
    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


@pytest.mark.django_db
def test_branding_is_leadrouter_with_a_language_switch(manager_client):
    html = manager_client.get(reverse("admin:index")).content.decode()
    assert "Leadrouter" in html and "Django administration" not in html and "Django site admin" not in html
    assert reverse("set_language") in html and 'name="language"' in html


@pytest.mark.django_db
def test_rule_list_in_words_with_labels_and_also_do(manager_client):
    html = manager_client.get(reverse("admin:routing_rule_changelist")).content.decode()
    assert "Job title has any of the words: student, praktykant, stażysta, intern" in html
    assert "Company size &gt; 250" in html
    assert "job_title contains" not in html and "company_size &gt;" not in html
    assert "column-actions_summary" in html
    assert "Rep: Tomek Wiśniewski" in html and "Pool: Demo" in html
    assert "Propose an in-person meeting" in html  # the territory rule's task, in words
    assert "template red_alert:" in html  # a notify action shows its template's text


@pytest.mark.django_db
def test_test_a_lead_shows_the_actions_that_would_fire_and_the_sla_terms(manager_client):
    response = manager_client.post(
        reverse("admin:routing_rule_test_lead"), {"email": "cto@fabryka.example", "company_size": "400", "country": "PL", "language": "pl"}
    )
    html = response.content.decode()
    assert 'id="test-lead-actions"' in html and "SMS gateway" in html
    assert "SLA policy" in html and 'id="test-lead-due"' in html


@pytest.mark.django_db
def test_history_rows_show_local_time_only(manager_client, api):
    response = api.post("/api/v1/leads/", data=json.dumps({"email": "a@firma-a.example"}), content_type="application/json")
    lead = Lead.objects.get(pk=response.json()["id"])
    LeadEvent.objects.filter(lead=lead).update(at=datetime(2025, 1, 15, 9, 0, tzinfo=UTC))  # 10:00 in Warsaw
    html = manager_client.get(reverse("admin:routing_lead_change", args=[lead.pk])).content.decode()
    assert "Jan. 15, 2025, 10 a.m." in html  # the site's time zone (Europe/Warsaw)
    # No UTC str() above the row. (A lookbehind: other rows carry today's real time, e.g. "12:09 a.m.".)
    assert not re.search(r"(?<![\d:])9 a\.m\.", html) and "2025-01-15 09:00" not in html


@pytest.mark.django_db
def test_polish_titles_decline_the_models_name(manager_client, settings):
    manager_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "pl"
    html = manager_client.get(reverse("admin:routing_rule_changelist"), HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "<h1>Wybierz regułę do zmiany</h1>" in html and "<title>Wybierz regułę do zmiany | Leadrouter</title>" in html
    assert re.search(r'class="addlink">\s*Dodaj regułę\s*</a>', html)
    assert "Wybierz reguła" not in html and "Dodaj reguła" not in html and "(-nych)" not in html
    assert "Praca: " not in html
    html = manager_client.get(reverse("admin:reps_repdayload_changelist"), HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "Rep day loads" not in html and "dzienne obciążenie" in html
    html = manager_client.get(reverse("admin:reps_rep_change", args=[Rep.objects.get(name="Kasia Nowak").pk]), HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "<h1>Zmień handlowca</h1>" in html
    manager_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = manager_client.get(reverse("admin:routing_lead_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<h1>Select lead to change</h1>" in html  # English untouched


def test_polish_history_lines_do_not_decline_names():
    from django.utils import translation
    from django.utils.translation import gettext

    with translation.override("pl"):
        assigned = gettext("Assigned to %(rep)s by the rule “%(rule)s”") % {"rep": "Marek Zieliński", "rule": "Demo"}
        moved = gettext("Owner: %(old)s → %(new)s (%(by)s). Reason: %(reason)s") % {
            "old": "Marek Zieliński",
            "new": "Ola Kowalczyk",
            "by": "Magda",
            "reason": "urlop",
        }
        rule_title = gettext("Select %s to change") % "reguła"
    assert assigned == "Przypisano: Marek Zieliński (reguła „Demo”)"
    assert moved == "Opiekun: Marek Zieliński → Ola Kowalczyk (Magda). Powód: urlop"
    assert rule_title == "Wybierz do zmiany: reguła"
