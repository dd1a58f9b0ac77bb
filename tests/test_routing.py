"""Routing the TechPol demo's leads: each rule, the fallback, precedence, explanations and preview."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from reps.models import Absence, OnDutyOverride, Pool, PostalRange, Rep, RepDayLoad, Territory, TerritoryCity
from reps.services import absence_add, rep_status_set
from routing.models import Lead, LeadEvent, Rule, RuleCondition
from routing.ruleset import lead_facts, ruleset_active
from routing.services.assignment import lead_preview, lead_route
from routing.services.intake import lead_normalise
from tests.factories import IntakeSourceFactory, LeadFactory

WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)  # marek is on duty on Tuesdays
WEDNESDAY = datetime(2026, 11, 18, 10, 0, tzinfo=WARSAW)  # kasia is on duty on Wednesdays


def stored_lead(**fields) -> Lead:
    fields.setdefault("submitted_at", TUESDAY - timedelta(seconds=30))
    lead = LeadFactory(**fields)
    lead_normalise(lead)
    lead.save()
    return lead


def route(now=TUESDAY, **fields) -> Lead:
    lead = stored_lead(**fields)
    lead_route(lead=lead, now=now)
    lead.refresh_from_db()
    return lead


def preview(now=TUESDAY, **fields) -> Lead:
    fields.setdefault("submitted_at", now)
    lead = lead_normalise(LeadFactory.build(intake_source=IntakeSourceFactory(), **fields))
    lead_preview(lead=lead, now=now)
    return lead


def rule_named(start: str) -> Rule:
    return Rule.objects.get(name__startswith=start)


# Each demo rule with a lead that matches only it ----------------------------------------------------


def test_students_and_interns_are_disqualified(demo):
    lead = route(job_title="Praktykant ds. marketingu")
    assert lead.status == Lead.Status.DISQUALIFIED
    assert lead.owner is None and lead.rule == rule_named("Students")
    assert lead.needs_attention is False
    event = lead.events.get(type=LeadEvent.Type.DISQUALIFIED)
    assert "Students and interns" in event.detail and event.rep is None


def test_free_mail_address_is_disqualified(demo):
    lead = route(email="jan.kowalski@gmail.com")
    assert lead.status == Lead.Status.DISQUALIFIED
    assert lead.rule == rule_named("Free-mail")


def test_existing_account_goes_to_its_manager_tomek(tomek):
    lead = route(email="zakupy@hutastal.example")
    assert (lead.owner, lead.rule) == (tomek, rule_named("Existing account"))
    assert lead.status == Lead.Status.ASSIGNED


def test_subdomain_of_an_account_domain_is_the_account(tomek):
    assert route(email="jan@biuro.hutastal.example").owner == tomek


def test_repeat_lead_goes_to_the_previous_owner(kasia):
    first = route(email="powrot@firma-x.example", industry="E-commerce")
    assert first.owner == kasia
    second = route(email="powrot@firma-x.example")
    assert (second.owner, second.rule) == (kasia, rule_named("Repeat lead"))
    assert f"#{first.pk}" in " ".join(second.explanation)


def test_vip_domain_goes_to_anna(anna):
    lead = route(email="prezes@bigbank.example")
    assert (lead.owner, lead.rule) == (anna, rule_named("VIP"))


def test_awaria_in_any_case_goes_to_rapid_response_in_turn(piotr, ewa):
    owners = [route(message=text).owner for text in ["AWARIA linii!", "mamy awaria w hali", "Awaria"]]
    assert owners == [piotr, ewa, piotr]
    lead = Lead.objects.filter(owner=piotr).first()
    assert lead.rule == rule_named("Failure")
    assert lead.pool == Pool.objects.get(name="Rapid response")


def test_enterprise_over_250_employees_goes_to_tomek(tomek):
    assert route(company_size=251).owner == tomek
    assert route(company_size=250).rule is None  # not more than 250: the fallback


def test_german_form_goes_to_jan(jan):
    lead = route(language="de")
    assert (lead.owner, lead.rule) == (jan, rule_named("German"))


def test_e_commerce_goes_to_kasia(kasia):
    lead = route(industry="e-commerce")
    assert (lead.owner, lead.rule) == (kasia, rule_named("E-commerce"))


@pytest.mark.parametrize("region", ["Śląskie", "slaskie", "ŚLĄSKIE", "  slaskie "])
def test_region_slaskie_any_case_or_diacritics_is_kasias_territory(kasia, region):
    lead = route(region=region)
    assert (lead.owner, lead.rule) == (kasia, rule_named("Territory"))


@pytest.mark.parametrize(
    ("postal_code", "in_territory"),
    [("39-999", False), ("40-000", True), ("40-001", True), ("44-999", True), ("45-000", False), ("40000", True)],
)
def test_postal_code_range_edges_of_slask(kasia, postal_code, in_territory):
    lead = route(postal_code=postal_code)
    if in_territory:
        assert (lead.owner, lead.rule) == (kasia, rule_named("Territory"))
    else:
        assert lead.rule is None and lead.pool.name == "Juniors"


def test_demo_request_rotates_through_demo_pool(kasia, marek, ola):
    owners = [route(source="demo_request").owner for _ in range(4)]
    assert owners == [kasia, marek, ola, kasia]
    assert Lead.objects.filter(rule=rule_named("Demo request")).count() == 4


def test_webinar_rotates_through_juniors_pool(marek, ola):
    owners = [route(source="webinar").owner for _ in range(3)]
    assert owners == [marek, ola, marek]


def test_nothing_matched_goes_to_the_juniors_fallback_pool(marek):
    lead = route(source="contact_form")
    assert lead.owner == marek and lead.rule is None and lead.pool.name == "Juniors"
    assert lead.status == Lead.Status.ASSIGNED and lead.needs_attention is False
    assert "No rule matched: the lead goes to the fallback pool." in lead.explanation
    assert lead.events.get(type=LeadEvent.Type.ASSIGNED).detail == "Assigned to Marek Zieliński by the fallback pool"


# Precedence ---------------------------------------------------------------------------------------


def test_earlier_rule_wins_when_several_match(demo):
    assert route(email="stazysta@bigbank.example", job_title="Stażysta").status == Lead.Status.DISQUALIFIED
    assert route(email="it@megamarket.example", message="awaria").owner == demo["anna"]
    assert route(message="AWARIA", company_size=1000).owner in (demo["piotr"], demo["ewa"])
    assert route(company_size=1000, language="de").owner == demo["tomek"]
    assert route(industry="E-commerce", region="Śląskie", source="demo_request").rule == rule_named("E-commerce")
    assert route(region="Śląskie", source="demo_request").rule == rule_named("Territory")


def test_reordering_rules_changes_precedence(demo):
    german = rule_named("German")
    german.position = 0
    german.save()
    assert route(company_size=1000, language="de").owner == demo["jan"]


def test_inactive_rule_is_not_applied(demo):
    enterprise = rule_named("Enterprise")
    enterprise.is_active = False
    enterprise.save()
    assert route(company_size=1000).rule is None


# Territories: most specific wins --------------------------------------------------------------------


def test_narrower_postal_range_beats_wider_one_and_city_beats_region(demo):
    gliwice = Territory.objects.create(name="Gliwice", owner_rep=demo["jan"])
    PostalRange.objects.create(territory=gliwice, start=44100, end=44199)
    katowice = Territory.objects.create(name="Katowice", owner_pool=Pool.objects.get(name="Rapid response"))
    TerritoryCity.objects.create(territory=katowice, name="Katowice", key="katowice")

    assert route(postal_code="44-150", region="Śląskie").owner == demo["jan"]
    assert route(postal_code="44-200").owner == demo["kasia"]
    city_lead = route(city="KATOWICE", region="Śląskie")
    assert city_lead.owner == demo["piotr"] and city_lead.pool.name == "Rapid response"
    assert route(city="Bytom", region="slaskie").owner == demo["kasia"]


def test_postal_range_beats_city(demo):
    katowice = Territory.objects.create(name="Katowice", owner_rep=demo["jan"])
    TerritoryCity.objects.create(territory=katowice, name="Katowice", key="katowice")
    assert route(city="Katowice", postal_code="40-001").owner == demo["kasia"]


# Unavailable reps ---------------------------------------------------------------------------------


def test_away_direct_target_falls_to_the_on_duty_rep_and_the_explanation_says_so(demo):
    rep_status_set(rep=demo["tomek"], status=Rep.Status.AWAY)
    lead = route(company_size=500)  # Tuesday: marek is on duty
    assert lead.owner == demo["marek"] and lead.rule == rule_named("Enterprise")
    text = "\n".join(lead.explanation)
    assert "Tomek Wiśniewski is away: the lead goes to the on-duty rep." in text
    assert "On duty on 2026-11-17: Marek Zieliński." in text


def test_out_of_office_direct_target_falls_to_the_on_duty_rep(demo):
    absence_add(rep=demo["jan"], starts_on=date(2026, 11, 16), ends_on=date(2026, 11, 18), reason="urlop")
    lead = route(language="de", now=WEDNESDAY, submitted_at=WEDNESDAY)
    assert lead.owner == demo["kasia"]
    assert "out of office until 2026-11-18 (urlop)" in "\n".join(lead.explanation)
    assert route(language="de", now=WEDNESDAY + timedelta(days=1), submitted_at=WEDNESDAY).owner == demo["jan"]


def test_on_duty_override_replaces_the_rota(demo):
    OnDutyOverride.objects.create(date=TUESDAY.date(), rep=demo["ola"])
    rep_status_set(rep=demo["jan"], status=Rep.Status.IN_MEETING)
    assert route(language="de").owner == demo["ola"]


def test_unavailable_on_duty_rep_sends_the_lead_to_the_fallback_pool(demo):
    rep_status_set(rep=demo["tomek"], status=Rep.Status.AWAY)
    rep_status_set(rep=demo["marek"], status=Rep.Status.AWAY)
    lead = route(company_size=500)
    assert lead.owner == demo["ola"] and lead.pool.name == "Juniors"
    text = "\n".join(lead.explanation)
    assert "The on-duty rep Marek Zieliński is away too: the lead goes to the fallback pool." in text
    assert "Juniors: Marek Zieliński skipped: away" in text


def test_previous_owner_away_falls_to_on_duty(demo):
    first = route(email="znowu@firma-y.example", language="de")
    assert first.owner == demo["jan"]
    rep_status_set(rep=demo["jan"], status=Rep.Status.AWAY)
    assert route(email="znowu@firma-y.example").owner == demo["marek"]


def test_unassigned_only_when_even_the_fallback_pool_has_nobody(demo):
    for name in ("marek", "ola"):
        rep_status_set(rep=demo[name], status=Rep.Status.AWAY)
    lead = route(source="newsletter")
    assert lead.status == Lead.Status.UNASSIGNED and lead.owner is None and lead.needs_attention is True
    assert lead.assigned_at is None
    event = lead.events.get(type=LeadEvent.Type.UNASSIGNED)
    assert event.rep is None
    assert "left unassigned for the manager" in lead.explanation[-1]


def test_empty_rule_pool_falls_to_the_fallback_pool(demo):
    for name in ("piotr", "ewa"):
        rep_status_set(rep=demo[name], status=Rep.Status.IN_MEETING)
    lead = route(message="awaria")
    assert lead.owner == demo["marek"] and lead.pool.name == "Juniors" and lead.rule == rule_named("Failure")
    assert "Rapid response: Piotr Kamiński skipped: in a meeting" in lead.explanation


# What is written ------------------------------------------------------------------------------------


def test_route_writes_timings_hits_and_the_assigned_event(kasia, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the hit is counted once the lead is committed
        lead = route(industry="E-commerce")
    assert lead.assigned_at == TUESDAY
    assert lead.system_delay_seconds == 30
    rule = rule_named("E-commerce")
    assert (rule.hits, rule.last_hit_at) == (1, TUESDAY)
    event = lead.events.get(type=LeadEvent.Type.ASSIGNED)
    assert event.rep == kasia and event.at == TUESDAY
    assert event.detail == "Assigned to Kasia Nowak by the rule “E-commerce → specialist”"
    assert event.data == {"rule_id": rule.pk, "pool_id": None}


def test_explanation_lists_each_rule_checked_with_the_value_seen(kasia):
    lead = route(email="anna@sklep.example", job_title="Właścicielka", industry="E-commerce", company_size=12)
    lines = lead.explanation
    assert len(lines) == 11  # rules 1-9 no match, rule 10 matches, the choice
    assert lines[0].startswith("Rule 1 “Students and interns → disqualify”: no match — job title “Właścicielka” has none of the words")
    assert lines[1] == (
        "Rule 2 “Free-mail address → disqualify”: no match — e-mail domain “sklep.example” is not in the list “Free mail”;"
        " e-mail domain “sklep.example” is not in the list “Disposable addresses”"
    )
    assert lines[2] == "Rule 3 “Existing account → account manager”: no match — e-mail domain “sklep.example” belongs to no account"
    assert lines[3] == "Rule 4 “Repeat lead → previous owner”: no match — no earlier lead has the e-mail “anna@sklep.example”"
    assert lines[6] == "Rule 7 “Score ≥ 60 → Tomek”: no match — score “0” is not ≥ 60"
    assert lines[7] == "Rule 8 “Enterprise (> 250 employees) → Tomek”: no match — company size “12” is not > 250"
    assert lines[8] == "Rule 9 “German form → Jan”: no match — language “pl” does not equal “de”"
    assert lines[9] == "Rule 10 “E-commerce → specialist”: matches — industry “E-commerce” equals “E-commerce”"
    assert lines[10] == "Assigned to Kasia Nowak."


# Preview --------------------------------------------------------------------------------------------


def test_preview_fills_the_decision_and_moves_nothing(kasia):
    demo_pool = Pool.objects.get(name="Demo")
    before = (demo_pool.rotation, Rule.objects.get(name__startswith="Demo").hits, LeadEvent.objects.count(), Lead.objects.count())
    leads = [preview(source="demo_request") for _ in range(3)]
    assert [lead.owner for lead in leads] == [kasia, kasia, kasia]
    assert leads[0].status == Lead.Status.ASSIGNED and leads[0].rule == rule_named("Demo request") and leads[0].pool == demo_pool
    assert leads[0].explanation[-1] == "Assigned to Kasia Nowak."
    demo_pool.refresh_from_db()
    after = (demo_pool.rotation, Rule.objects.get(name__startswith="Demo").hits, LeadEvent.objects.count(), Lead.objects.count())
    assert after == before
    assert not RepDayLoad.objects.exists()
    assert leads[0].pk is None


def test_preview_shows_the_next_rep_after_real_routing(marek):
    route(source="demo_request")
    assert preview(source="demo_request").owner == marek


def test_preview_of_a_disqualified_lead(demo):
    lead = preview(email="ktos@wp.pl")
    assert lead.status == Lead.Status.DISQUALIFIED and lead.owner is None


# The compiled rule set ------------------------------------------------------------------------------


def test_a_rule_edit_is_seen_by_the_next_lead(demo):
    assert route(language="de").owner == demo["jan"]
    german = rule_named("German")
    condition = german.conditions.get()
    condition.value = "en"
    condition.save()
    german.save()  # the admin always saves the rule with its conditions
    assert route(language="de").rule is None
    assert route(language="en").owner == demo["jan"]


def test_a_new_rule_is_seen_by_the_next_lead(demo):
    ruleset_active()
    new = Rule.objects.create(name="Budget → Anna", position=0, target=Rule.Target.REP, target_rep=demo["anna"])
    RuleCondition.objects.create(rule=new, field="extra.budget", operator="gte", value="100000")
    assert route(extra={"budget": 250000}).owner == demo["anna"]


def test_routing_runs_no_query_per_rule(demo):
    route(source="webinar")  # warm the compiled rule set and both Juniors' day loads
    route(source="webinar")

    def queries_for_one_lead():
        lead = stored_lead(source="contact_form")
        with CaptureQueriesContext(connection) as ctx:
            lead_route(lead=lead, now=TUESDAY)
        return len(ctx.captured_queries)

    baseline = queries_for_one_lead()
    for i in range(20):
        rule = Rule.objects.create(name=f"Extra {i}", position=100 + i, target=Rule.Target.NOBODY)
        RuleCondition.objects.create(rule=rule, field="extra.never", operator="equals", value="x")
    route(source="webinar")  # recompile once
    assert queries_for_one_lead() == baseline


def test_lead_facts_use_a_constant_number_of_queries(demo):
    lead = stored_lead(email="a@hutastal.example", region="Śląskie", city="Katowice", postal_code="40-001")
    with CaptureQueriesContext(connection) as ctx:
        facts = lead_facts(lead)
    assert len(ctx.captured_queries) <= 5
    assert facts.account.name == "Huta Stal S.A." and facts.territory.name == "Śląsk"
    assert facts.territory.matched_by == "postal codes 40-000–44-999"


def test_absence_validation(kasia):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        absence_add(rep=kasia, starts_on=date(2026, 11, 20), ends_on=date(2026, 11, 19))
    assert not Absence.objects.exists()


# Properties: any lead gets exactly one outcome ------------------------------------------------------

_words = st.one_of(st.text(max_size=30), st.sampled_from(["", "Śląskie", "slaskie", "AWARIA", "Praktykant", "E-commerce", "de", "40-000", "44-999"]))
_domains = st.sampled_from(["gmail.com", "hutastal.example", "bigbank.example", "firma.example", "x.pl"])


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    local=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    domain=_domains,
    job_title=_words,
    message=_words,
    region=_words,
    city=_words,
    postal_code=st.one_of(_words, st.from_regex(r"\d{2}-\d{3}", fullmatch=True)),
    industry=_words,
    source=st.sampled_from(["", "demo_request", "webinar", "newsletter", "contact_form"]),
    language=st.sampled_from(["pl", "de", "en"]),
    company_size=st.one_of(st.none(), st.integers(0, 10**6)),
    extra=st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=3),
)
def test_any_lead_previews_to_exactly_one_outcome(demo, local, domain, **fields):
    lead = preview(email=f"{local}@{domain}", **fields)
    if lead.status == Lead.Status.ASSIGNED:
        assert lead.owner is not None and not lead.needs_attention
    elif lead.status == Lead.Status.DISQUALIFIED:
        assert lead.owner is None and lead.rule.target == Rule.Target.NOBODY
    else:
        assert lead.status == Lead.Status.UNASSIGNED and lead.owner is None and lead.needs_attention
    assert lead.explanation and all(isinstance(line, str) for line in lead.explanation)
