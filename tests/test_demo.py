"""The TechPol demo (docs/demo.md) and the project's own housekeeping commands."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from reps.models import Account, DomainList, OnDutyRota, Pool, PostalRange, Rep, Territory
from routing.models import IntakeSource, Rule, RuleCondition
from routing.selectors import intake_source_for_token
from sla.models import BusinessCalendar, EscalationStep, SlaPolicy


def snapshot():
    User = get_user_model()
    return {
        "users": User.objects.count(),
        "reps": Rep.objects.count(),
        "pools": sorted((p.name, tuple(p.memberships.values_list("rep__user__username", flat=True))) for p in Pool.objects.all()),
        "rules": list(Rule.objects.order_by("position").values_list("position", "name", "target", "is_active")),
        "conditions": RuleCondition.objects.count(),
        "territories": Territory.objects.count(),
        "ranges": list(PostalRange.objects.values_list("start", "end")),
        "policies": list(SlaPolicy.objects.values_list("name", "response_minutes")),
        "steps": EscalationStep.objects.count(),
        "calendars": BusinessCalendar.objects.count(),
        "accounts": Account.objects.count(),
    }


@pytest.mark.django_db
def test_load_demo_twice_leaves_one_copy():
    call_command("load_demo", stdout=StringIO())
    first = snapshot()
    call_command("load_demo", "--password", "inne-haslo", stdout=StringIO())
    assert snapshot() == first


@pytest.mark.django_db
def test_demo_has_the_people_pools_and_rota_of_the_spec(demo):
    assert set(demo) == {"tomek", "kasia", "marek", "ola", "piotr", "ewa", "jan", "anna"}
    assert all(rep.email == f"{name}@techpol.example" for name, rep in demo.items())
    assert [rep.name for rep in Rep.objects.filter(is_team_lead=True)] == ["Anna Kowalczyk"]
    pools = {p.name: list(p.memberships.values_list("rep__user__username", flat=True)) for p in Pool.objects.all()}
    assert pools == {"Demo": ["kasia", "marek", "ola"], "Juniors": ["marek", "ola"], "Rapid response": ["piotr", "ewa"]}
    assert Pool.objects.get(is_fallback=True).name == "Juniors"
    assert dict(OnDutyRota.objects.values_list("weekday", "rep__user__username")) == {0: "kasia", 1: "marek", 2: "kasia", 3: "marek", 4: "kasia"}
    assert Account.objects.get().domains.get().domain == "hutastal.example"
    assert set(DomainList.objects.get(name="VIP").entries.values_list("domain", flat=True)) == {"bigbank.example", "megamarket.example"}
    free = set(DomainList.objects.get(kind="free_mail").entries.values_list("domain", flat=True))
    assert {"gmail.com", "wp.pl", "o2.pl", "onet.pl", "interia.pl", "op.pl", "buziaczek.pl", "yahoo.com", "outlook.com", "hotmail.com"} <= free
    assert [r.name for r in Rule.objects.filter(is_active=True)][0].startswith("Students")
    assert Rule.objects.filter(is_active=True).count() == 13


@pytest.mark.django_db
def test_demo_users_log_in_with_the_password_and_reps_are_not_staff(demo):
    assert Client().login(username="kasia", password="demo")
    assert not get_user_model().objects.get(username="kasia").is_staff
    manager = get_user_model().objects.get(username="manager")
    assert manager.is_staff and not manager.is_superuser
    assert manager.groups.filter(name="Sales manager").exists()
    assert not Rep.objects.filter(user=manager).exists()


@pytest.mark.django_db
def test_sales_manager_can_run_routing_in_the_admin_but_not_manage_users(demo):
    manager = get_user_model().objects.get(username="manager")
    for perm in ("routing.change_rule", "routing.add_rule", "reps.change_pool", "reps.change_territory", "sla.change_slapolicy", "notifications.change_channel", "routing.view_lead"):
        assert manager.has_perm(perm), perm
    assert not manager.has_perm("auth.change_user")
    assert not manager.has_perm("auth.change_group")
    client = Client()
    client.force_login(manager)
    assert client.get("/admin/routing/rule/").status_code == 200
    assert client.get("/admin/routing/lead/").status_code == 200


@pytest.mark.django_db
def test_create_intake_token_prints_a_working_token_last():
    out = StringIO()
    call_command("create_intake_token", "Zapier", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    source = IntakeSource.objects.get(name="Zapier")
    assert intake_source_for_token(raw_token=token) == source
    assert token not in source.token_hash


@pytest.mark.django_db
def test_create_intake_token_refuses_a_duplicate_name_clearly():
    call_command("create_intake_token", "Zapier", stdout=StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_intake_token", "Zapier", stdout=StringIO())


@pytest.mark.django_db
def test_migrations_are_complete():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
