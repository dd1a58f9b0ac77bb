"""Writing rules (routing.services.rules): whoever saves, reorders or deletes a rule — Magda in the admin, the
draft's page, a routing-document import — the change is in the audit trail and the next lead is routed by it."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from routing.models import Rule, RuleAction, RuleChange, RuleCondition
from routing.ruleset import ruleset_active, ruleset_version
from routing.services.rule_tables import rule_table_live
from routing.services.rules import rule_delete, rule_save, rules_reorder
from tests.test_routing import route


@pytest.fixture
def magda(demo):
    return get_user_model().objects.get(username="manager")


def german() -> Rule:
    return Rule.objects.get(name__startswith="German")


def test_changing_only_a_condition_is_recorded_and_the_next_lead_sees_it(magda, kasia, jan):
    rule = german()
    ruleset_active()  # this process has the rules compiled
    version = ruleset_version()
    condition = rule.conditions.get()
    condition.value = "at"

    change = rule_save(rule=rule, user=magda, conditions=[condition])

    assert change.action == "change" and change.user == magda
    assert change.changes == {"conditions": {"changed": [{"item": "language equals at", "fields": {"value": "at"}}]}}
    assert ruleset_version() != version
    assert route(language="at").owner == jan
    assert route(language="de").owner != jan


def test_saving_a_rule_as_it_is_records_nothing_and_keeps_the_compiled_rules(magda):
    rule = german()
    version = ruleset_version()
    assert rule_save(rule=rule, user=magda, conditions=list(rule.conditions.all()), actions=list(rule.actions.all())) is None
    assert not RuleChange.objects.exists()
    assert ruleset_version() == version


def test_a_new_rule_is_recorded_with_what_it_is(magda, anna):
    rule = Rule(name="Budget → Anna", target=Rule.Target.REP, target_rep=anna, position=20)
    conditions = [RuleCondition(field="extra.budget", operator="gte", value="100000")]
    actions = [RuleAction(kind=RuleAction.Kind.TAG, text="big budget")]

    change = rule_save(rule=rule, user=magda, conditions=conditions, actions=actions)

    assert change.action == "add" and change.rule == rule
    assert change.changes["fields"]["target_rep"] == [None, "Anna Kowalczyk"]
    assert change.changes["conditions"] == {"added": ["extra.budget ≥ 100000"]}
    assert change.changes["now"]["conditions"] == ["extra.budget ≥ 100000"]
    assert route(extra={"budget": 250000}, source="contact_form", email="x@firma.example").owner == anna


def test_a_condition_left_out_is_deleted(magda):
    rule = german()
    change = rule_save(rule=rule, user=magda, conditions=[])
    assert change.changes == {"conditions": {"deleted": ["language equals de"]}}
    assert not rule.conditions.exists()


def test_reordering_names_only_the_rules_that_moved_and_an_unknown_rule_writes_nothing(magda):
    german_rule, enterprise = german(), Rule.objects.get(name__startswith="Enterprise")
    positions = {german_rule.pk: enterprise.position, enterprise.pk: german_rule.position}

    assert rules_reorder(table=rule_table_live(), positions=positions, user=magda) == 2
    assert rules_reorder(table=rule_table_live(), positions=positions, user=magda) == 0  # already there

    assert sorted(RuleChange.objects.filter(action="reorder").values_list("rule_name", flat=True)) == sorted([german_rule.name, enterprise.name])
    with pytest.raises(Rule.DoesNotExist):
        rules_reorder(table=rule_table_live(), positions={german_rule.pk: 1, 999_999: 2}, user=magda)
    assert Rule.objects.get(pk=german_rule.pk).position == enterprise.position


def test_deleting_rules_records_each_and_routing_stops_using_them(magda, jan):
    rule = german()
    ruleset_active()
    assert rule_delete(rules=Rule.objects.filter(pk=rule.pk), user=magda) == 1
    change = RuleChange.objects.get(action="delete")
    assert change.rule is None and change.rule_name == rule.name and change.changes["was"]["conditions"] == ["language equals de"]
    assert route(language="de").owner != jan


def test_moving_rules_to_another_page_goes_through_the_reorder_and_is_recorded(magda, client, monkeypatch):
    monkeypatch.setattr(admin.site._registry[Rule], "list_per_page", 5)  # the demo's 12 rules on three pages
    client.force_login(magda)
    last = Rule.objects.order_by("-position").first()
    first_position = Rule.objects.order_by("position").first().position

    response = client.post(
        reverse("admin:routing_rule_changelist") + "?p=3", {"action": "move_to_first_page", "_selected_action": [last.pk], "index": 0}
    )

    assert response.status_code == 302
    assert Rule.objects.get(pk=last.pk).position == first_position
    change = RuleChange.objects.get(action="reorder", rule=last)
    assert change.user == magda and change.changes["position"] == [last.position, first_position]
    assert RuleChange.objects.filter(action="reorder").count() == Rule.objects.count()  # every other rule moved down one
    assert sorted(Rule.objects.values_list("position", flat=True)) == list(range(first_position, first_position + Rule.objects.count()))
