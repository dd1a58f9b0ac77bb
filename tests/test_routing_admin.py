"""The rule table in the admin, as Magda the sales manager uses it: edit, validate, reorder, test a lead, audit."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from reps.models import DomainList, Pool
from routing.models import Lead, LeadEvent, Rule, RuleChange, RuleCondition


@pytest.fixture
def manager_client(demo, client):
    """Magda, the demo's sales manager (staff, in the "Sales manager" group; not a superuser)."""
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


def rule_form(*, conditions=(), actions=(), **fields):
    data = {"name": "Budget → Anna", "is_active": "on", "match": "all", "target": "rep", "target_rep": "", "target_pool": ""}
    data.update({k: str(v) for k, v in fields.items()})
    data.update(_formset("conditions", conditions, ["field", "operator", "value", "domain_list"]))
    data.update(_formset("actions", actions, ["kind", "position", "channel", "recipient", "recipient_rep", "template", "text", "config"]))
    return data


def _formset(prefix, rows, names, initial=0):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial), f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        for name in names:
            data[f"{prefix}-{i}-{name}"] = str(row.get(name, "") if row.get(name) is not None else "")
        for name, value in row.items():
            data[f"{prefix}-{i}-{name}"] = str(value)
    return data


def add_rule(client, **kw):
    return client.post(reverse("admin:routing_rule_add"), rule_form(**kw))


def test_rule_changelist_shows_order_hits_last_hit_and_the_test_link(manager_client):
    Rule.objects.filter(name__startswith="Demo request").update(hits=42)
    response = manager_client.get(reverse("admin:routing_rule_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Demo request → Demo pool" in html and ">42<" in html
    assert "column-hits_summary" in html  # the hits and the last hit share a column (fits 1400 px)
    assert reverse("admin:routing_rule_test_lead") in html
    assert 'class="drag handle"' in html


def test_adding_a_rule_with_a_condition_is_recorded(manager_client, anna):
    response = add_rule(
        manager_client,
        target_rep=anna.pk,
        conditions=[{"field": "extra.budget", "operator": "gte", "value": "100000"}],
        actions=[{"kind": "tag", "position": 0, "text": "big budget", "config": "{}"}],
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = Rule.objects.get(name="Budget → Anna")
    assert list(rule.conditions.values_list("field", "operator", "value")) == [("extra.budget", "gte", "100000")]
    assert rule.position == Rule.objects.exclude(pk=rule.pk).order_by("-position").first().position + 1  # added at the bottom
    change = RuleChange.objects.get(rule=rule)
    assert change.action == "add" and change.user.username == "manager"
    assert change.changes["conditions"]["added"] == ["extra.budget ≥ 100000"]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"field": "job_title", "operator": "gt", "value": "3"}, "is text: it cannot be compared with &gt;"),
        ({"field": "salary", "operator": "equals", "value": "1"}, "Unknown field “salary”"),
        ({"field": "job_title", "operator": "contains", "value": " ; "}, "Give at least one value"),
        ({"field": "", "operator": "in_domain_list", "value": ""}, "Choose the domain list"),
        ({"field": "company_size", "operator": "gt", "value": "many"}, "Give a number to compare with"),
        ({"field": "", "operator": "equals", "value": "x"}, "Choose the lead field"),
    ],
)
def test_invalid_conditions_are_refused_with_a_clear_message(manager_client, anna, condition, message):
    response = add_rule(manager_client, target_rep=anna.pk, conditions=[condition])
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Rule.objects.filter(name="Budget → Anna").exists()
    assert not RuleChange.objects.exists()


def test_a_pool_rule_without_a_pool_is_refused(manager_client):
    response = add_rule(manager_client, target="pool", conditions=[{"field": "source", "operator": "equals", "value": "x"}])
    assert response.status_code == 200
    assert "Choose the pool this rule assigns to." in response.content.decode()


def test_a_rep_rule_with_a_pool_is_refused(manager_client, anna):
    response = add_rule(manager_client, target_rep=anna.pk, target_pool=Pool.objects.get(name="Demo").pk)
    assert "A pool is only used when the rule assigns to a pool." in response.content.decode()


def test_editing_a_rule_records_who_what_and_when_and_routing_sees_it(manager_client, jan, tomek):
    rule = Rule.objects.get(name__startswith="German")
    condition = rule.conditions.get()
    data = rule_form(name=rule.name, target_rep=tomek.pk, conditions=[])
    data.update(_formset("conditions", [{"id": condition.pk, "rule": rule.pk, "field": "language", "operator": "in", "value": "de;at"}], ["field"], initial=1))
    response = manager_client.post(reverse("admin:routing_rule_change", args=[rule.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    change = RuleChange.objects.get(rule=rule)
    assert change.action == "change" and change.user.username == "manager"
    assert change.changes["fields"]["target_rep"] == ["Jan Schmidt", "Tomek Wiśniewski"]
    assert change.changes["conditions"]["changed"][0]["fields"] == {"operator": "in", "value": "de;at"}

    from tests.test_routing import route

    assert route(language="DE").owner == tomek


def test_deleting_a_rule_is_recorded(manager_client):
    rule = Rule.objects.get(name__startswith="Webinar")
    response = manager_client.post(reverse("admin:routing_rule_delete", args=[rule.pk]), {"post": "yes"})
    assert response.status_code == 302
    change = RuleChange.objects.get(rule_name=rule.name)
    assert change.action == "delete" and change.rule is None
    assert change.changes["was"]["conditions"] == ["source equals webinar"]


def test_drag_and_drop_reorder_is_recorded_and_changes_precedence(manager_client, jan):
    german = Rule.objects.get(name__startswith="German")
    enterprise = Rule.objects.get(name__startswith="Enterprise")
    url = reverse("admin:routing_rule_sortable_update")
    body = {"updatedItems": [[german.pk, enterprise.position], [enterprise.pk, german.position]]}
    response = manager_client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    assert Rule.objects.get(pk=german.pk).position == 8
    changes = RuleChange.objects.filter(action="reorder")
    assert {c.rule_name: c.changes["position"] for c in changes} == {german.name: [9, 8], enterprise.name: [8, 9]}

    from tests.test_routing import route

    assert route(language="de", company_size=1000).owner == jan


def test_test_a_lead_page_shows_the_decision_and_explanation_and_stores_nothing(manager_client, kasia):
    url = reverse("admin:routing_rule_test_lead")
    assert manager_client.get(url).status_code == 200
    demo_pool = Pool.objects.get(name="Demo")
    response = manager_client.post(url, {"email": "ceo@nowa-firma.example", "source": "demo_request", "country": "PL", "language": "pl"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Kasia Nowak" in html
    assert "Rule 12 “Demo request → Demo pool”: matches — source “demo_request” equals “demo_request”" in html
    assert "Demo: Kasia Nowak is next in turn" in html
    assert Lead.objects.count() == 0 and LeadEvent.objects.count() == 0
    demo_pool.refresh_from_db()
    assert demo_pool.rotation == {}
    assert Rule.objects.get(name__startswith="Demo request").hits == 0


def test_test_a_lead_page_reports_bad_input(manager_client):
    response = manager_client.post(reverse("admin:routing_rule_test_lead"), {"email": "not an address", "country": "PL", "language": "pl", "extra": "[1]"})
    html = response.content.decode()
    assert "Enter a valid email address." in html and "Give a JSON object" in html
    assert 'id="test-lead-result"' not in html


def test_test_a_lead_with_extra_fields_and_diacritics(manager_client, kasia):
    response = manager_client.post(
        reverse("admin:routing_rule_test_lead"), {"email": "a@b.example", "region": "slaskie", "country": "PL", "language": "pl", "extra": '{"x": 1}'}
    )
    assert "Rule 11 “Territory → territory owner”: matches — the lead is in the territory “Śląsk” (region “slaskie” (Śląskie))" in response.content.decode()


def test_rule_changes_are_read_only(manager_client):
    assert manager_client.get(reverse("admin:routing_rulechange_changelist")).status_code == 200
    assert manager_client.get(reverse("admin:routing_rulechange_add")).status_code == 403


def test_domain_list_condition_is_accepted(manager_client, anna):
    vip = DomainList.objects.get(name="VIP")
    response = add_rule(manager_client, name="VIP 2", target_rep=anna.pk, conditions=[{"field": "", "operator": "in_domain_list", "domain_list": vip.pk}])
    assert response.status_code == 302
    assert RuleCondition.objects.get(rule__name="VIP 2").domain_list == vip


def test_stale_rule_filter_lists_rules_without_recent_hits(manager_client):
    from datetime import timedelta

    from django.utils import timezone

    Rule.objects.filter(name__startswith="Demo request").update(hits=3, last_hit_at=timezone.now() - timedelta(days=1))
    Rule.objects.filter(name__startswith="Webinar").update(hits=1, last_hit_at=timezone.now() - timedelta(days=200))
    html = manager_client.get(reverse("admin:routing_rule_changelist") + "?stale=90").content.decode()
    assert "Webinar → Juniors pool" in html and "Demo request → Demo pool" not in html
    html = manager_client.get(reverse("admin:routing_rule_changelist") + "?stale=never").content.decode()
    assert "Webinar → Juniors pool" not in html and "German form → Jan" in html
