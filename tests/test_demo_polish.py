"""The TechPol demo made for a Polish site (LANGUAGE_CODE "pl"): Polish names everywhere, the same routing."""

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.utils import translation

from flows.demo import NAMES, demo_load, demo_name
from notifications.models import Channel
from reps.models import DomainList, Pool
from routing.models import Lead, Rule, RuleAction, ScoreRule
from routing.services.assignment import lead_preview
from routing.services.intake import lead_normalise
from sla.models import BusinessCalendar, SlaPolicy
from tests.factories import IntakeSourceFactory, LeadFactory

WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)
PO = Path(django_settings.BASE_DIR) / "locale" / "pl" / "LC_MESSAGES" / "django.po"

POLISH_RULES = [
    "Studenci i stażyści → dyskwalifikacja",
    "Adres w darmowej poczcie → dyskwalifikacja",
    "Istniejący klient → opiekun klienta",
    "Powracający lead → poprzedni właściciel",
    "Domena VIP → Anna",
    "Awaria → Szybka reakcja",
    "Wynik ≥ 60 → Tomek",
    "Duża firma (> 250 pracowników) → Tomek",
    "Formularz po niemiecku → Jan",
    "E-commerce → specjalistka",
    "Terytorium → właściciel terytorium",
    "Prośba o demo → pula Demo",
    "Webinar → pula Juniorzy",
]

# One lead per rule (and one no rule takes): (the rule's place, the lead's fields, who gets it).
ONE_LEAD_PER_RULE = [
    (1, {"job_title": "Praktykant ds. marketingu"}, None),
    (2, {"email": "jan.kowalski@gmail.com"}, None),
    (3, {"email": "zakupy@hutastal.example"}, "tomek"),
    (4, {"email": "wrocil@firma-powrot.example"}, "ola"),  # an earlier lead of Ola's (below)
    (5, {"email": "cfo@bigbank.example"}, "anna"),
    (6, {"message": "AWARIA serwera od rana"}, "piotr"),
    (7, {"job_title": "Prezes Zarządu", "phone": "+48 600 100 200", "source": "report_download", "extra": {"budget": "200 000 PLN"}}, "tomek"),
    (8, {"company_size": 400}, "tomek"),
    (9, {"language": "de"}, "jan"),
    (10, {"industry": "e-commerce"}, "kasia"),
    (11, {"region": "Śląskie"}, "kasia"),
    (12, {"source": "demo_request"}, "kasia"),
    (13, {"source": "webinar"}, "marek"),
    (None, {"company": "Nikt Nie Pasuje"}, "marek"),  # the fallback pool (Juniors / Juniorzy)
]


def _routed(fields: dict) -> tuple[int | None, str | None, str]:
    lead = lead_normalise(LeadFactory.build(intake_source=IntakeSourceFactory(), submitted_at=TUESDAY, **fields))
    lead_preview(lead=lead, now=TUESDAY)
    return (lead.rule.position if lead.rule else None, lead.owner.user.username if lead.owner else None, lead.rule.name if lead.rule else "")


def _earlier_lead_of(rep) -> None:
    lead = LeadFactory(email="wrocil@firma-powrot.example", owner=rep, status=Lead.Status.CONTACTED, submitted_at=TUESDAY - timedelta(days=30))
    lead_normalise(lead)
    lead.save()


def _polish_catalogue() -> dict[str, str]:
    entries = re.findall(r'^msgctxt "demo"\nmsgid "((?:[^"\\]|\\.)*)"\nmsgstr "((?:[^"\\]|\\.)*)"$', PO.read_text(), flags=re.M)
    return {msgid.replace('\\"', '"'): msgstr.replace('\\"', '"') for msgid, msgstr in entries}


@pytest.mark.django_db
def test_a_polish_site_gets_the_demo_with_polish_names(settings):
    settings.LANGUAGE_CODE = "pl"
    demo_load(password="demo")
    assert list(Rule.objects.filter(is_active=True).order_by("position").values_list("name", flat=True)) == POLISH_RULES
    assert set(Pool.objects.values_list("name", flat=True)) == {"Demo", "Juniorzy", "Szybka reakcja"}
    assert Pool.objects.get(is_fallback=True).name == "Juniorzy"
    assert set(DomainList.objects.values_list("name", flat=True)) == {"VIP", "Darmowa poczta", "Adresy jednorazowe"}
    assert "Stanowisko w zarządzie lub dyrektorskie" in set(ScoreRule.objects.values_list("name", flat=True))
    assert list(SlaPolicy.objects.order_by("position").values_list("name", flat=True)) == ["Krytyczna", "Średnia", "Niska", "Domyślna"]
    assert BusinessCalendar.objects.get().name == "Biuro TechPol"
    assert {"Bramka SMS", "Webhook kampanii mailingowej", "Teams: Sprzedaż"} <= set(Channel.objects.values_list("name", flat=True))
    texts = set(RuleAction.objects.exclude(text="").values_list("text", flat=True))
    assert texts == {
        "sprzedaż eksportowa",
        "Studium przypadku e-commerce: https://techpol.example/case-studies/e-commerce",
        "Zaproponuj spotkanie osobiste",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "pl"])
def test_one_lead_per_rule_goes_to_the_same_owner_in_english_and_in_polish(settings, language):
    settings.LANGUAGE_CODE = language
    reps = demo_load(password="demo")
    _earlier_lead_of(reps["ola"])
    for position, fields, owner in ONE_LEAD_PER_RULE:
        routed_position, routed_owner, rule_name = _routed(fields)
        assert (routed_position, routed_owner) == (position, owner), fields
        if position is not None and language == "pl":
            assert rule_name == POLISH_RULES[position - 1]


@pytest.mark.django_db
def test_loading_the_demo_again_in_the_other_language_renames_it_and_leaves_one_copy(settings):
    demo_load(password="demo")
    english = Rule.objects.get(name="Demo request → Demo pool")
    counts = (Rule.all_tables.count(), Pool.objects.count(), SlaPolicy.objects.count(), Channel.objects.count(), DomainList.objects.count())
    settings.LANGUAGE_CODE = "pl"
    demo_load(password="demo")
    assert Rule.objects.get(pk=english.pk).name == "Prośba o demo → pula Demo"
    assert Rule.objects.filter(is_active=True).count() == 13
    assert (Rule.all_tables.count(), Pool.objects.count(), SlaPolicy.objects.count(), Channel.objects.count(), DomainList.objects.count()) == counts
    settings.LANGUAGE_CODE = "en"
    demo_load(password="demo")
    assert Rule.objects.get(pk=english.pk).name == "Demo request → Demo pool" and Pool.objects.filter(name="Juniors", is_fallback=True).exists()


@pytest.mark.django_db
def test_every_name_the_demo_stores_has_its_polish_translation(demo):
    """A rule, pool or text added to the demo without its Polish name would stay English on a Polish site."""
    catalogue = _polish_catalogue()
    with translation.override("en"):
        listed = {str(name) for name in NAMES}
    stored = {
        *Rule.objects.values_list("name", flat=True),
        *Pool.objects.values_list("name", flat=True),
        *DomainList.objects.values_list("name", flat=True),
        *SlaPolicy.objects.values_list("name", flat=True),
        *BusinessCalendar.objects.values_list("name", flat=True),
        *Channel.objects.values_list("name", flat=True),
        *RuleAction.objects.exclude(text="").values_list("text", flat=True),
        *ScoreRule.objects.values_list("name", flat=True),
    }
    assert stored <= listed, stored - listed
    assert stored <= set(catalogue), stored - set(catalogue)
    assert all(catalogue[name] for name in stored)
    assert demo_name("Rapid response", "pl") == "Szybka reakcja" and demo_name("Rapid response", "en") == "Rapid response"
