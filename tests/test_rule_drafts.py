"""Rule change review: Magda prepares a change as a draft, compares it with the live rules, publishes it, and can
bring an earlier version back. Routing only ever uses the live table."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from routing.models import DraftRule, Lead, Rule, RuleAction, RuleChange, RuleCondition, RuleTable
from routing.rule_diff import rule_tables_compare
from routing.ruleset import ruleset_active, ruleset_version
from routing.services.rule_tables import draft_discard, draft_publish, draft_start, rule_table_live, version_restore
from tests.test_routing import route
from tests.test_routing_admin import _formset, rule_form


@pytest.fixture
def magda(demo):
    return get_user_model().objects.get(username="manager")


@pytest.fixture
def manager_client(magda, client):
    client.force_login(magda)
    return client


def draft_rule(draft: RuleTable, start: str) -> Rule:
    return Rule.all_tables.get(table=draft, name__startswith=start)


def german_to(draft: RuleTable, rep) -> Rule:
    rule = draft_rule(draft, "German")
    rule.target_rep = rep
    rule.save()
    return rule


# The live table ----------------------------------------------------------------------------------


def test_the_demo_rules_are_the_live_table_and_new_rules_join_it(demo, anna):
    live = RuleTable.objects.get(status=RuleTable.Status.LIVE)
    assert Rule.objects.count() == 13 and set(Rule.objects.values_list("table_id", flat=True)) == {live.pk}
    new = Rule.objects.create(name="Budget → Anna", target=Rule.Target.REP, target_rep=anna)
    assert new.table == live
    assert len(set(Rule.objects.values_list("lineage", flat=True))) == 14


def test_only_one_table_can_be_live(demo):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        RuleTable.objects.create(status=RuleTable.Status.LIVE)


# Drafts ------------------------------------------------------------------------------------------


def test_a_draft_copies_rules_with_conditions_and_actions_and_routing_ignores_it(demo, magda, jan, kasia):
    draft = draft_start(user=magda, name="German to Kasia")
    live = rule_table_live()
    assert Rule.all_tables.filter(table=draft).count() == 13
    assert RuleCondition.objects.filter(rule__table=draft).count() == RuleCondition.objects.filter(rule__table=live).count()
    assert RuleAction.objects.filter(rule__table=draft).count() == RuleAction.objects.filter(rule__table=live).count()
    assert set(Rule.all_tables.filter(table=draft).values_list("lineage", flat=True)) == set(Rule.objects.values_list("lineage", flat=True))
    assert [r.name for r in DraftRule.objects.order_by("position")] == [r.name for r in Rule.objects.order_by("position")]

    german_to(draft, kasia)
    assert route(language="de").owner == jan  # the draft routes nothing
    assert Rule.objects.count() == 13 and Rule.objects.get(name__startswith="German").target_rep == jan


def test_only_one_draft_at_a_time(demo, magda):
    draft_start(user=magda)
    with pytest.raises(ValidationError):
        draft_start(user=magda)


def test_discarding_a_draft_leaves_the_live_rules_as_they_were(demo, magda, jan, kasia):
    draft = draft_start(user=magda)
    german_to(draft, kasia)
    draft_discard(draft=draft, user=magda)
    assert not RuleTable.objects.filter(status=RuleTable.Status.DRAFT).exists()
    assert Rule.all_tables.count() == 13 and route(language="de").owner == jan
    assert RuleChange.objects.filter(action="discard", user=magda).exists()


# Compare -----------------------------------------------------------------------------------------


def test_compare_says_in_words_which_rules_were_added_removed_changed_and_moved(demo, magda, kasia, anna):
    draft = draft_start(user=magda)
    german_to(draft, kasia)
    enterprise = draft_rule(draft, "Enterprise")
    enterprise.position = 0
    enterprise.save()
    students = draft_rule(draft, "Students")
    students.is_active = False
    students.save()
    draft_rule(draft, "Webinar").delete()
    budget = Rule.objects.create(table=draft, name="Budget → Anna", position=100, target=Rule.Target.REP, target_rep=anna)
    RuleCondition.objects.create(rule=budget, field="extra.budget", operator="gte", value="100000")
    demo_rule = draft_rule(draft, "Demo request")
    demo_rule.conditions.update(value="demo_request;trial")
    demo_rule.save()

    diff = rule_tables_compare(before=rule_table_live(), after=draft)
    by_name = {c.name: c for c in diff.changes}
    assert by_name["German form → Jan"].kind == "changed"
    assert "assigns to Kasia Nowak instead of Jan Schmidt" in by_name["German form → Jan"].lines
    assert by_name["Enterprise (> 250 employees) → Tomek"].kind == "moved"
    assert by_name["Enterprise (> 250 employees) → Tomek"].lines == ("moved from place 8 to place 1",)
    assert "switched off" in by_name["Students and interns → disqualify"].lines
    assert by_name["Webinar → Juniors pool"].kind == "removed"
    assert by_name["Webinar → Juniors pool"].lines[0].startswith("Removed (was at place 13: when source equals “webinar”")
    assert by_name["Budget → Anna"].kind == "added"
    assert by_name["Budget → Anna"].lines[0] == "New rule at place 13: when extra.budget ≥ “100000”, assign to Anna Kowalczyk."
    assert by_name["Demo request → Demo pool"].lines == (
        "condition removed: source equals “demo_request”",
        "condition added: source equals “demo_request;trial”",
    )
    # An insertion or a move shifts other rules' places, but they did not move relative to each other.
    assert {c.kind for c in diff.changes if c.name.startswith(("Free-mail", "Existing", "Repeat", "VIP", "Failure"))} == set()


def test_an_unchanged_draft_compares_as_no_change(demo, magda):
    assert rule_tables_compare(before=rule_table_live(), after=draft_start(user=magda)).is_empty


# Publish -----------------------------------------------------------------------------------------


def test_publishing_switches_routing_at_once_and_records_who_and_when(demo, magda, jan, kasia):
    before = route(language="de")
    assert before.owner == jan
    old_live = rule_table_live()
    draft = draft_start(user=magda, name="German to Kasia")
    german_to(draft, kasia)
    ruleset_active()  # this process has the old rules compiled
    version = ruleset_version()

    draft_publish(draft=draft, user=magda)

    assert ruleset_version() != version  # every other process sees the switch on its next lead
    assert route(language="de").owner == kasia
    old_live.refresh_from_db()
    draft.refresh_from_db()
    assert old_live.status == RuleTable.Status.ARCHIVED and old_live.archived_at is not None
    assert draft.status == RuleTable.Status.LIVE and draft.published_by == magda and draft.published_at is not None
    assert Rule.objects.filter(table=draft).count() == 13 and not Rule.objects.filter(table=old_live).exists()
    change = RuleChange.objects.get(action="publish")
    assert change.user == magda and change.table == draft
    assert "German form → Jan: assigns to Kasia Nowak instead of Jan Schmidt" in change.changes["what changed"]

    # History intact: the earlier lead keeps the (now archived) rule row that matched it.
    before.refresh_from_db()
    assert before.rule.table == old_live and before.rule.name == "German form → Jan"


def test_hit_counts_carry_over_to_the_same_rule_in_the_new_version(demo, magda, kasia, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # hits are counted once each lead is committed
        route(language="de")
        route(language="de")
    draft = draft_start(user=magda)
    german_to(draft, kasia)
    draft_publish(draft=draft, user=magda)
    german = Rule.objects.get(name__startswith="German")
    assert german.table == draft and german.hits == 2 and german.last_hit_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        route(language="de")
    german.refresh_from_db()
    assert german.hits == 3


def test_a_draft_cannot_be_published_twice(demo, magda):
    draft = draft_start(user=magda)
    draft_publish(draft=draft, user=magda)
    with pytest.raises(ValidationError):
        draft_publish(draft=draft, user=magda)
    assert RuleTable.objects.filter(status=RuleTable.Status.LIVE).count() == 1


# Restore -----------------------------------------------------------------------------------------


def test_an_earlier_version_comes_back_as_a_draft_and_routes_as_before_once_published(demo, magda, jan, kasia):
    first = rule_table_live()
    draft = draft_start(user=magda)
    german_to(draft, kasia)
    draft_publish(draft=draft, user=magda)
    assert route(language="de").owner == kasia

    restored = version_restore(table=first, user=magda)
    assert restored.status == RuleTable.Status.DRAFT and restored.based_on == first
    assert route(language="de").owner == kasia  # not live until published
    diff = rule_tables_compare(before=rule_table_live(), after=restored)
    assert [c.lines for c in diff.changes] == [("assigns to Jan Schmidt instead of Kasia Nowak",)]

    draft_publish(draft=restored, user=magda)
    assert route(language="de").owner == jan
    assert RuleTable.objects.filter(status=RuleTable.Status.ARCHIVED).count() == 2
    assert RuleChange.objects.filter(action="restore", user=magda).exists()


def test_only_archived_versions_can_be_restored(demo, magda):
    with pytest.raises(ValidationError):
        version_restore(table=rule_table_live(), user=magda)


# The admin ---------------------------------------------------------------------------------------


def test_magda_drafts_compares_and_publishes_through_the_admin(manager_client, magda, jan, kasia):
    changelist = manager_client.get(reverse("admin:routing_rule_changelist")).content.decode()
    assert reverse("admin:routing_rule_draft_start") in changelist and reverse("admin:routing_rule_versions") in changelist

    response = manager_client.post(reverse("admin:routing_rule_draft_start"), {"name": "German to Kasia", "note": "Jan is on leave"})
    assert response.status_code == 302 and response.url == reverse("admin:routing_draftrule_changelist")
    draft = RuleTable.objects.get(status=RuleTable.Status.DRAFT)
    page = manager_client.get(reverse("admin:routing_draftrule_changelist")).content.decode()
    assert "German form → Jan" in page and 'class="drag handle"' in page and reverse("admin:routing_rule_draft_compare") in page

    german = draft_rule(draft, "German")
    condition = german.conditions.get()
    data = rule_form(name=german.name, target_rep=kasia.pk, conditions=[])
    data.update(
        _formset("conditions", [{"id": condition.pk, "rule": german.pk, "field": "language", "operator": "equals", "value": "de"}], ["field"], initial=1)
    )
    response = manager_client.post(reverse("admin:routing_draftrule_change", args=[german.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert RuleChange.objects.get(rule=german).table == draft
    assert route(language="de").owner == jan

    compare = manager_client.get(reverse("admin:routing_rule_draft_compare")).content.decode()
    assert "assigns to Kasia Nowak instead of Jan Schmidt" in compare and 'id="publish"' in compare
    assert manager_client.get(reverse("admin:routing_rule_draft_publish")).status_code == 405

    response = manager_client.post(reverse("admin:routing_rule_draft_publish"))
    assert response.status_code == 302
    assert route(language="de").owner == kasia
    draft.refresh_from_db()
    assert draft.status == RuleTable.Status.LIVE and draft.published_by == magda

    versions = manager_client.get(reverse("admin:routing_rule_versions")).content.decode()
    archived = RuleTable.objects.get(status=RuleTable.Status.ARCHIVED)
    assert reverse("admin:routing_rule_version_restore", args=[archived.pk]) in versions and "manager" in versions
    response = manager_client.post(reverse("admin:routing_rule_version_restore", args=[archived.pk]))
    assert response.status_code == 302 and response.url == reverse("admin:routing_rule_draft_compare")
    assert "assigns to Jan Schmidt instead of Kasia Nowak" in manager_client.get(response.url).content.decode()


def test_a_rule_added_on_the_draft_page_goes_into_the_draft(manager_client, magda, anna):
    draft = draft_start(user=magda)
    response = manager_client.post(
        reverse("admin:routing_draftrule_add"), rule_form(target_rep=anna.pk, conditions=[{"field": "extra.budget", "operator": "gte", "value": "100000"}])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = Rule.all_tables.get(name="Budget → Anna")
    assert rule.table == draft and not Rule.objects.filter(name="Budget → Anna").exists()
    assert rule.position == Rule.all_tables.filter(table=draft).exclude(pk=rule.pk).order_by("-position").first().position + 1
    assert route(extra={"budget": 250000}).owner != anna


def test_without_a_draft_the_draft_page_offers_no_add(manager_client):
    page = manager_client.get(reverse("admin:routing_draftrule_changelist")).content.decode()
    assert reverse("admin:routing_draftrule_add") not in page
    assert manager_client.get(reverse("admin:routing_draftrule_add")).status_code == 403


def test_dragging_rules_in_the_draft_reorders_only_the_draft(manager_client, magda, jan):
    draft = draft_start(user=magda)
    german, enterprise = draft_rule(draft, "German"), draft_rule(draft, "Enterprise")
    body = {"updatedItems": [[german.pk, enterprise.position], [enterprise.pk, german.position]]}
    response = manager_client.post(reverse("admin:routing_draftrule_sortable_update"), json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    assert Rule.all_tables.get(pk=german.pk).position == 8
    assert Rule.objects.get(name__startswith="German").position == 9
    assert route(language="de", company_size=1000).owner != jan  # live order unchanged: Enterprise wins
    assert "moved from place 9 to place 8" in " ".join(rule_tables_compare(before=rule_table_live(), after=draft).lines())


def test_a_lead_matched_by_an_archived_rule_still_shows_in_the_lead_admin(manager_client, magda, kasia):
    lead = route(language="de")
    draft = draft_start(user=magda)
    german_to(draft, kasia)
    draft_publish(draft=draft, user=magda)
    page = manager_client.get(reverse("admin:routing_lead_change", args=[lead.pk])).content.decode()
    assert "German form → Jan" in page
    assert Lead.objects.get(pk=lead.pk).rule.table.status == RuleTable.Status.ARCHIVED


# Permissions and the migration -------------------------------------------------------------------


def test_a_user_who_may_only_view_rules_cannot_publish_or_restore(demo, magda, client):
    from django.contrib.auth.models import Permission

    viewer = get_user_model().objects.create_user(username="viewer", password="x", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_rule", "view_draftrule"]))
    draft = draft_start(user=magda)
    client.force_login(viewer)
    assert client.get(reverse("admin:routing_rule_draft_compare")).status_code == 200
    assert client.post(reverse("admin:routing_rule_draft_publish")).status_code == 403
    assert client.post(reverse("admin:routing_rule_draft_discard")).status_code == 403
    draft.refresh_from_db()
    assert draft.status == RuleTable.Status.DRAFT


@pytest.mark.django_db(transaction=True)
def test_the_migration_puts_existing_rules_in_one_live_table_each_with_its_own_lineage():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("routing", "0002_initial")])
    old = executor.loader.project_state([("routing", "0002_initial")]).apps
    for i in range(3):
        old.get_model("routing", "Rule").objects.create(name=f"Old rule {i}", position=i, target="nobody")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    live = RuleTable.objects.get(status=RuleTable.Status.LIVE)
    assert list(Rule.objects.order_by("position").values_list("name", "table_id")) == [(f"Old rule {i}", live.pk) for i in range(3)]
    assert len(set(Rule.objects.values_list("lineage", flat=True))) == 3


def test_compare_warns_when_the_live_rules_were_edited_after_the_draft_was_copied(manager_client, magda):
    draft_start(user=magda)
    url = reverse("admin:routing_rule_draft_compare")
    assert 'id="live-edited"' not in manager_client.get(url).content.decode()
    webinar = Rule.objects.get(name__startswith="Webinar")
    manager_client.post(reverse("admin:routing_rule_delete", args=[webinar.pk]), {"post": "yes"})
    assert 'id="live-edited"' in manager_client.get(url).content.decode()


def test_a_restored_version_is_not_mistaken_for_a_stale_draft(manager_client, magda, kasia):
    first = rule_table_live()
    draft = draft_start(user=magda)
    german_to(draft, kasia)
    draft_publish(draft=draft, user=magda)
    version_restore(table=first, user=magda)
    assert 'id="live-edited"' not in manager_client.get(reverse("admin:routing_rule_draft_compare")).content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_publishing_while_leads_come_in_routes_each_lead_by_one_whole_table_and_two_publishes_give_one_live(demo):
    """Leads routed during the switch see either the old or the new table, never a mix or none; a second publish
    of the same draft is refused."""
    import threading
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from routing.services.assignment import lead_route
    from routing.services.intake import lead_normalise
    from tests.factories import LeadFactory

    magda = get_user_model().objects.get(username="manager")
    draft = draft_start(user=magda)
    german_to(draft, demo["kasia"])
    now = timezone.now()
    leads = [lead_normalise(LeadFactory(language="de", submitted_at=now - timedelta(seconds=5))) for _ in range(10)]
    for lead in leads:
        lead.save()
    barrier = threading.Barrier(len(leads) + 2)
    errors, refused = [], []

    def publish():
        try:
            barrier.wait(timeout=30)
            draft_publish(draft=draft, user=magda)
        except ValidationError:
            refused.append(True)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def route_one(lead_id):
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                lead_route(lead=Lead.objects.get(pk=lead_id), now=now)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish) for _ in range(2)] + [threading.Thread(target=route_one, args=(lead.pk,)) for lead in leads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(refused) == 1
    assert RuleTable.objects.filter(status=RuleTable.Status.LIVE).get().pk == draft.pk
    for lead in Lead.objects.filter(pk__in=[lead.pk for lead in leads]).select_related("rule", "owner"):
        assert lead.rule is not None and lead.rule.name == "German form → Jan"
        assert lead.owner == (demo["kasia"] if lead.rule.table_id == draft.pk else demo["jan"])
