"""The lead score (docs/demo.md, "Lead score"): TechPol's value-based points, summed per lead with their breakdown,
and the rule "Score ≥ 60 → Tomek" right before the enterprise rule."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.conditions import Condition, LeadFacts, to_number
from core.scoring import CompiledScoreRule, ScoreSet, breakdown_lines, score, scored, total
from routing.models import Lead, LeadEvent, Rule, ScoreCondition, ScoreRule
from routing.replay import replay_run
from routing.services.rule_tables import draft_start
from routing.services.scoring import score_rule_save

WARSAW = ZoneInfo("Europe/Warsaw")
URL = "/api/v1/leads/"
# The seed's example: a start-up of three with a large budget; the CEO downloads the price list and gives a phone.
START_UP = {
    "email": "ceo@mala-firma.example",
    "job_title": "CEO",
    "phone": "+48 601 222 333",
    "source": "report_download",
    "company_size": 3,
    "budget": "200 000 PLN",
}


def post(api, body, url=URL):
    response = api.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 201), response.content
    return response.json()


@pytest.fixture
def manager_client(demo, client):
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


# Pure: core.scoring without a database --------------------------------------------------------------


def facts(**fields):
    extra = fields.pop("extra", {})
    return LeadFacts(fields=fields, extra=extra, email_domain="firma.example")


PHONE = CompiledScoreRule(id=1, name="Phone given", points=10, conditions=(Condition.build(operator="not_empty", field="phone"),))
BOSS = CompiledScoreRule(id=2, name="Boss", points=20, conditions=(Condition.build(operator="contains", field="job_title", value="prezes;CEO"),))
GMAIL = CompiledScoreRule(id=3, name="Private mailbox", points=-5, conditions=(Condition.build(operator="equals", field="email_domain", value="gmail.com"),))


def test_score_sums_the_points_of_the_rules_that_hold_in_their_order():
    total, breakdown = score(ScoreSet(rules=(PHONE, BOSS, GMAIL)), facts(phone="+48 600", job_title="Wiceprezes zarządu"))
    assert total == 30
    assert breakdown == [
        {"points": 10, "why": "“Phone given”: phone is “+48 600”"},
        {"points": 20, "why": "“Boss”: job title “Wiceprezes zarządu” contains “prezes”"},
    ]
    assert breakdown_lines(breakdown) == ["+10 “Phone given”: phone is “+48 600”", "+20 “Boss”: job title “Wiceprezes zarządu” contains “prezes”"]


def test_negative_points_take_some_away_and_no_rule_gives_zero():
    assert score([PHONE, GMAIL], facts(phone="1", email_domain="gmail.com"))[0] == 5
    assert breakdown_lines(score([GMAIL], facts(email_domain="gmail.com"))[1]) == ["−5 “Private mailbox”: e-mail domain “gmail.com” equals “gmail.com”"]
    assert score(ScoreSet(), facts(phone="1")) == (0, [])
    assert score([PHONE, BOSS], facts()) == (0, [])


def test_the_total_alone_is_the_scores_total_without_writing_a_line():
    """The what-if replay sums every lead's score with `total` and writes the breakdown of the leads it lists."""
    either = CompiledScoreRule(
        id=4, name="Boss or phone", points=7, match="any", conditions=(BOSS.conditions[0], Condition.build(operator="not_empty", field="phone"))
    )
    broken = CompiledScoreRule(id=5, name="Broken", points=100, conditions=(Condition.build(operator="gt", field="job_title", value="x"),))
    rules = ScoreSet(rules=(PHONE, BOSS, GMAIL, either, broken))
    for lead in (facts(), facts(phone="1"), facts(job_title="CEO", email_domain="gmail.com"), facts(phone="+48", job_title="Prezes")):
        assert total(rules, lead) == score(rules, lead)[0]
    assert total([], facts(phone="1")) == 0


def test_the_score_is_a_number_field_a_rule_can_test():
    rich = scored(facts(job_title="CEO"), 60)
    assert rich.fields["score"] == 60 and "score" not in facts().fields
    from core.conditions import evaluate

    holds, lines = evaluate((Condition.build(operator="gte", field="score", value="60"),), "all", rich)
    assert holds and lines == ["score “60” ≥ 60"]
    holds, lines = evaluate((Condition.build(operator="gte", field="score", value="60"),), "all", scored(facts(), 59))
    assert not holds and lines == ["score “59” is not ≥ 60"]


@pytest.mark.parametrize(
    "typed, number",
    [("150000", 150000), ("150 000", 150000), ("150 000 PLN", 150000), ("150\u00a0000 zł", 150000), ("150\u202f000 zł", 150000), ("150k", 150000),
     ("PLN 150 000", 150000), ("1,5 mln zł", 1500000), ("99 999,99 PLN", 99999.99), ("2,5", 2.5), ("sto tysięcy", None), ("150 000 ton", None)],
)  # fmt: skip
def test_a_budget_is_read_as_people_type_it(typed, number):
    parsed = to_number(typed)
    assert (parsed is None and number is None) or float(parsed) == number


# Each of the demo's score rules, through the API ----------------------------------------------------


@pytest.mark.parametrize(
    "fields, points, why",
    [
        ({"source": "report_download"}, 10, "“Price list or report download”: source “report_download” equals “report_download”"),
        ({"phone": "+48 601 000 111"}, 10, "“Phone number given”: phone is “+48 601 000 111”"),
        ({"job_title": "Prezes Zarządu"}, 20, "“Board-level or director title”: job title “Prezes Zarządu” has the word “prezes”"),
        ({"job_title": "Dyrektorka handlowa"}, 20, "has the word “dyrektor” (as “Dyrektorka”)"),
        ({"job_title": "ceo & founder"}, 20, "has the word “CEO”"),
        ({"job_title": "Sales Director"}, 20, "has the word “director”"),
        ({"job_title": "Head of Procurement"}, 20, "has the phrase “head of”"),
        ({"company_size": 50}, 10, "“50–250 employees”: company size “50” ≥ 50; company size “50” ≤ 250"),
        ({"company_size": 250}, 10, "“50–250 employees”"),
        ({"company_size": 251}, 20, "“More than 250 employees”: company size “251” > 250"),
        ({"budget": 100000}, 20, "“Budget of 100 000 PLN or more”: extra.budget “100000” ≥ 100000"),
        ({"budget": "150 000 PLN"}, 20, "extra.budget “150 000 PLN” ≥ 100000"),
        ({"budget": "150k"}, 20, "extra.budget “150k” ≥ 100000"),
    ],
)
def test_each_score_rule_gives_its_points_with_the_reason(demo, api, fields, points, why):
    lead = post(api, {"email": "zakupy@fabryka.example", **fields})
    assert lead["score"] == points
    assert len(lead["score_breakdown"]) == 1 and lead["score_breakdown"][0]["points"] == points
    assert why in lead["score_breakdown"][0]["why"]


@pytest.mark.parametrize(
    "fields", [{"company_size": 49}, {"budget": "99 999 PLN"}, {"budget": "dużo"}, {"job_title": "Specjalista ds. zakupów"}, {"phone": "  "}]
)
def test_a_lead_without_any_of_it_scores_nothing(demo, api, fields):
    lead = post(api, {"email": "zakupy@fabryka.example", **fields})
    assert lead["score"] == 0 and lead["score_breakdown"] == []


def test_the_representation_carries_the_score_and_its_breakdown_everywhere(demo, api):
    created = post(api, {"email": "dyrektor@huta-katowice.example", "job_title": "Dyrektor zakupów", "phone": "+48 32 000 00 00", "company_size": 120})
    assert created["score"] == 40
    assert [line["points"] for line in created["score_breakdown"]] == [10, 20, 10]
    assert all(set(line) == {"points", "why"} for line in created["score_breakdown"])
    again = api.get(f"{URL}{created['id']}/").json()
    assert (again["score"], again["score_breakdown"]) == (created["score"], created["score_breakdown"])
    listed = api.get(URL, {"email": "dyrektor@huta-katowice.example"}).json()["results"][0]
    assert listed["score"] == 40
    stored = Lead.objects.get(pk=created["id"])
    assert stored.score == 40 and stored.score_breakdown == created["score_breakdown"]


# The rule "Score ≥ 60 → Tomek" ---------------------------------------------------------------------


def test_a_start_up_of_three_with_a_large_budget_reaches_tomek_by_its_score(demo, api, tomek):
    lead = post(api, START_UP)
    assert lead["score"] == 60
    assert [line["points"] for line in lead["score_breakdown"]] == [10, 10, 20, 20]
    assert lead["owner"]["email"] == tomek.email
    assert lead["rule"]["name"] == "Score ≥ 60 → Tomek"
    assert "Rule 7 “Score ≥ 60 → Tomek”: matches — score “60” ≥ 60" in lead["explanation"]
    assert "Assigned to Tomek Wiśniewski by the rule “Score ≥ 60 → Tomek”" in [e["detail"] for e in lead["events"]]


def test_a_59_point_lead_does_not_reach_tomek(demo, api, tomek):
    generic = score_rule_save(rule=ScoreRule(name="Generic mailbox (biuro@)", points=-1))
    ScoreCondition.objects.create(score_rule=generic, field="email", operator="starts_with", value="biuro@")
    lead = post(api, {**START_UP, "email": "biuro@mala-firma.example"})
    assert lead["score"] == 59
    assert lead["score_breakdown"][-1] == {"points": -1, "why": "“Generic mailbox (biuro@)”: e-mail “biuro@mala-firma.example” starts with “biuro@”"}
    assert lead["owner"]["email"] != tomek.email and lead["rule"] is None  # a report download: the fallback pool
    assert "Rule 7 “Score ≥ 60 → Tomek”: no match — score “59” is not ≥ 60" in lead["explanation"]


def test_an_enterprise_lead_still_reaches_tomek_by_its_size(demo, api, tomek):
    lead = post(api, {"email": "zakupy@duza-firma.example", "company_size": 400})
    assert lead["score"] == 20 and lead["owner"]["email"] == tomek.email
    assert lead["rule"]["name"] == "Enterprise (> 250 employees) → Tomek"


# Preview, Test a lead, what-if -----------------------------------------------------------------------


def test_the_preview_shows_the_score_and_stores_nothing(demo, api, tomek):
    answer = post(api, START_UP, url="/api/v1/route/preview")
    assert answer["score"] == 60 and len(answer["score_breakdown"]) == 4
    assert answer["owner"]["email"] == tomek.email
    assert not Lead.objects.exists() and not LeadEvent.objects.exists()


def test_test_a_lead_shows_the_score_with_its_breakdown(manager_client):
    fields = {k: v for k, v in START_UP.items() if k != "budget"}
    response = manager_client.post(reverse("admin:routing_rule_test_lead"), {**fields, "country": "PL", "language": "pl", "extra": '{"budget": "200k"}'})
    html = response.content.decode()
    assert '<td id="test-lead-score">60' in html
    assert "+20 “Budget of 100 000 PLN or more”: extra.budget “200k” ≥ 100000" in html
    assert "Tomek Wiśniewski" in html and not Lead.objects.exists()


def test_what_if_scores_each_lead_with_the_score_rules_in_memory(demo, api, kasia, manager_client):
    with time_machine.travel(datetime(2026, 10, 6, 10, tzinfo=WARSAW), tick=False):
        stored = post(api, START_UP)
    assert stored["owner"]["name"] == "Tomek Wiśniewski"
    draft = draft_start(user=get_user_model().objects.get(username="manager"))
    rule = Rule.all_tables.get(table=draft, name="Score ≥ 60 → Tomek")
    rule.target_rep = kasia
    rule.save()

    since, until = datetime(2026, 10, 1, tzinfo=WARSAW), datetime(2026, 11, 1, tzinfo=WARSAW)
    with CaptureQueriesContext(connection) as ctx:
        result = replay_run(table=draft, since=since, until=until)
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    [row] = result.leads
    assert row.score == 60 and len(row.score_breakdown) == 4
    assert row.moved and result.headline() == "Kasia Nowak +1, Tomek Wiśniewski −1"
    assert "Rule 7 “Score ≥ 60 → Tomek”: matches — score “60” ≥ 60" in row.draft_explanation

    with time_machine.travel(datetime(2026, 11, 2, 12, tzinfo=WARSAW), tick=False):
        page = manager_client.get(reverse("admin:routing_rule_draft_what_if"), {"days": "last_month", "rep": kasia.pk, "dir": "in"}).content.decode()
    assert '<td class="replay-score">60' in page and "+10 “Phone number given”" in page

    # The score rules change after the lead came in: the replay scores with today's rules, not the stored score.
    ScoreRule.objects.filter(name="Phone number given").update(points=0)
    again = replay_run(table=draft, since=since, until=until)
    assert again.leads[0].score == 50 and not again.leads[0].moved  # neither table sends a 50 to Tomek or Kasia
    assert Lead.objects.get(pk=stored["id"]).score == 60


# The manager edits the score rules ------------------------------------------------------------------


def score_rule_form(rule: ScoreRule, **fields):
    conditions = list(rule.conditions.all())
    data = {"name": rule.name, "points": str(rule.points), "is_active": "on" if rule.is_active else "", "match": rule.match}
    data.update({k: str(v) for k, v in fields.items()})
    data.update({"conditions-TOTAL_FORMS": str(len(conditions)), "conditions-INITIAL_FORMS": str(len(conditions))})
    data.update({"conditions-MIN_NUM_FORMS": "0", "conditions-MAX_NUM_FORMS": "1000"})
    for i, c in enumerate(conditions):
        data.update({f"conditions-{i}-id": str(c.pk), f"conditions-{i}-score_rule": str(rule.pk)})
        data.update({f"conditions-{i}-field": c.field, f"conditions-{i}-operator": c.operator, f"conditions-{i}-value": c.value})
        data[f"conditions-{i}-domain_list"] = ""
    return data


def test_a_manager_editing_a_score_rule_changes_the_next_leads_score(manager_client, api):
    assert post(api, {"email": "a@firma.example", "phone": "+48 600 000 001"})["score"] == 10  # compiled and cached
    phone = ScoreRule.objects.get(name="Phone number given")
    response = manager_client.post(reverse("admin:routing_scorerule_change", args=[phone.pk]), score_rule_form(phone, points=15))
    assert response.status_code == 302, response.content.decode()[:3000]
    lead = post(api, {"email": "b@firma.example", "phone": "+48 600 000 002"})
    assert lead["score"] == 15 and lead["score_breakdown"][0]["points"] == 15

    response = manager_client.post(reverse("admin:routing_scorerule_change", args=[phone.pk]), score_rule_form(phone, points=15, is_active=""))
    assert response.status_code == 302
    assert post(api, {"email": "c@firma.example", "phone": "+48 600 000 003"})["score"] == 0


def test_the_score_rules_admin_lists_points_and_refuses_a_rule_on_the_score(manager_client):
    page = manager_client.get(reverse("admin:routing_scorerule_changelist")).content.decode()
    assert "Budget of 100 000 PLN or more" in page and "+20" in page and 'class="drag handle"' in page
    data = {"name": "Circular", "points": "5", "is_active": "on", "match": "all", "conditions-TOTAL_FORMS": "1", "conditions-INITIAL_FORMS": "0"}
    data.update({"conditions-0-field": "score", "conditions-0-operator": "gte", "conditions-0-value": "10", "conditions-0-domain_list": ""})
    response = manager_client.post(reverse("admin:routing_scorerule_add"), data)
    assert response.status_code == 200
    assert "A score rule cannot test the score" in response.content.decode()
    assert not ScoreRule.objects.filter(name="Circular").exists()


def test_the_lead_admin_and_the_reps_page_show_the_score(manager_client, api, tomek, client):
    lead = post(api, START_UP)
    listing = manager_client.get(reverse("admin:routing_lead_changelist")).content.decode()
    assert "column-score" in listing
    page = manager_client.get(reverse("admin:routing_lead_change", args=[lead["id"]])).content.decode()
    assert "+20 “Board-level or director title”: job title “CEO” has the word “CEO”" in page
    client.force_login(tomek.user)
    mine = client.get(reverse("my-lead", args=[lead["id"]])).content.decode()
    assert 'id="lead-score"' in mine and "<strong>60</strong>" in mine and "+10 “Phone number given”" in mine


# Performance: intake gains no query per score rule --------------------------------------------------


def test_intake_runs_no_query_per_score_rule(demo, api):
    def queries_for_one_lead(n: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            post(api, {"email": f"zakupy{n}@fabryka{n}.example", "job_title": "Prezes", "phone": "+48 600", "budget": "120 000 zł"})
        return len(ctx.captured_queries)

    for n in range(3):  # compile and cache; the fallback pool's first turns and the reps' first day loads
        baseline = queries_for_one_lead(n)
    for i in range(20):
        rule = ScoreRule.objects.create(name=f"Extra {i}", points=1, position=100 + i)
        ScoreCondition.objects.create(score_rule=rule, field="extra.never", operator="equals", value="x")
    queries_for_one_lead(3)  # recompiles once
    assert queries_for_one_lead(4) == baseline


# The routing document carries the score rules ------------------------------------------------------


def test_the_routing_document_exports_and_imports_the_score_rules(demo, api):
    from flows.routing_setup import RoutingConfigError, routing_config_export, routing_config_import

    document = routing_config_export()
    assert [(s["name"], s["points"]) for s in document["score_rules"]][:2] == [("Price list or report download", 10), ("Phone number given", 10)]
    assert document["score_rules"][3]["conditions"] == [
        {"field": "company_size", "operator": "gte", "value": "50", "domain_list": None},
        {"field": "company_size", "operator": "lte", "value": "250", "domain_list": None},
    ]
    post(api, {"email": "a@firma.example", "phone": "+48 600 000 001"})  # the score rules compiled and cached

    document["score_rules"] = [s for s in document["score_rules"] if s["name"] != "Price list or report download"]
    document["score_rules"][0]["points"] = -5
    summary = routing_config_import(document=document)
    assert summary["score rules"] == 5 and summary["score rules switched off"] == 1
    assert post(api, {"email": "b@firma.example", "phone": "+48 600 000 002", "source": "report_download"})["score"] == -5

    document["score_rules"][0]["points"] = "dziesięć"
    document["score_rules"][1]["conditions"] = [{"field": "score", "operator": "gte", "value": "10"}]
    with pytest.raises(RoutingConfigError) as refused:
        routing_config_import(document=document)
    assert "score_rules[0] “Phone number given”: “points” must be a whole number from -1000000 to 1000000" in refused.value.problems
    assert any("a score rule cannot test the score" in p for p in refused.value.problems)
