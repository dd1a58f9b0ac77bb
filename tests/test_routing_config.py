"""`export_routing` / `import_routing`: the routing setup as one versioned JSON document, staging to production."""

import copy
import json
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from flows.routing_setup import RoutingConfigError, routing_config_check, routing_config_export, routing_config_import
from notifications.models import Channel, OutboxMessage
from reps.models import Account, DomainList, OnDutyRota, Pool, Rep, Territory
from routing.models import IntakeSource, Lead, Rule
from routing.services.intake import lead_normalise
from sla.models import BusinessCalendar, SlaPolicy

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=ZoneInfo("Europe/Warsaw"))  # a Tuesday: marek is on duty

SAMPLE = [
    {"email": "student@firma.example", "job_title": "Student informatyki"},
    {"email": "jan.kowalski@gmail.com"},
    {"email": "zakupy@hutastal.example"},
    {"email": "prezes@bigbank.example"},
    {"email": "it@fabryka.example", "message": "Mamy AWARIA linii"},
    {"email": "cto@korpo.example", "company_size": 300},
    {"email": "einkauf@gmbh.example", "language": "de"},
    {"email": "sklep@sklep.example", "industry": "E-commerce"},
    {"email": "biuro@katowice.example", "region": "Śląskie"},
    {"email": "biuro@gliwice.example", "postal_code": "44-100"},
    {"email": "a@demo1.example", "source": "demo_request"},
    {"email": "b@demo2.example", "source": "demo_request"},
    {"email": "c@demo3.example", "source": "demo_request"},
    {"email": "d@demo4.example", "source": "demo_request"},
    {"email": "e@web1.example", "source": "webinar"},
    {"email": "f@web2.example", "source": "webinar"},
    {"email": "g@nic.example", "source": "contact_form"},
    {"email": "a@demo1.example", "source": "newsletter"},  # a repeat lead: back to its first owner
]


def route_sample() -> list[tuple]:
    """Route the sample leads in order; what a manager would compare: status, owner, rule, pool."""
    from routing.services.assignment import lead_route

    source, _ = IntakeSource.objects.get_or_create(name="Sample", defaults={"token_hash": "0" * 64, "token_prefix": "lr_s"})
    outcomes = []
    for fields in SAMPLE:
        lead = lead_normalise(Lead(intake_source=source, submitted_at=NOW, **fields))
        lead.save()
        lead_route(lead=lead, now=NOW)
        lead.refresh_from_db()
        outcomes.append(
            (
                fields["email"],
                lead.status,
                lead.owner.email if lead.owner else None,
                lead.rule.name if lead.rule else None,
                lead.pool.name if lead.pool else None,
            )
        )
    return outcomes


def database_empty() -> None:
    """What a fresh production database has: nothing of the routing setup, no reps, no users."""
    OutboxMessage.objects.all().delete()
    Lead.objects.all().delete()
    IntakeSource.objects.all().delete()
    Rule.objects.all().delete()
    SlaPolicy.objects.all().delete()
    Territory.objects.all().delete()
    Account.objects.all().delete()
    Pool.objects.all().delete()
    OnDutyRota.objects.all().delete()
    DomainList.objects.all().delete()
    Channel.objects.all().delete()
    BusinessCalendar.objects.all().delete()
    Rep.objects.all().delete()
    get_user_model().objects.all().delete()


def without_time(document: dict) -> dict:
    document = copy.deepcopy(document)
    document.pop("exported_at")
    return document


def test_the_document_is_versioned_names_people_by_email_and_holds_no_secrets(demo):
    Channel.objects.filter(name="SMS gateway").update(url="https://sms.example/send?key=SECRET", secret="hmac-SECRET")

    document = routing_config_export()

    assert document["version"] == 1
    assert "SECRET" not in json.dumps(document)
    assert all(set(c) == {"name", "kind", "config", "is_active"} for c in document["channels"])
    rule = next(r for r in document["rules"] if r["name"] == "VIP domain → Anna")
    assert rule["target_rep"] == "anna@techpol.example"
    assert rule["conditions"] == [{"field": "", "operator": "in_domain_list", "value": "", "domain_list": "VIP"}]
    assert [r["name"] for r in document["rules"]][:2] == ["Students and interns → disqualify", "Free-mail address → disqualify"]
    demo_pool = next(p for p in document["pools"] if p["name"] == "Demo")
    assert [m["rep"] for m in demo_pool["members"]] == ["kasia@techpol.example", "marek@techpol.example", "ola@techpol.example"]
    assert document["territories"] == [
        {"name": "Śląsk", "owner_rep": "kasia@techpol.example", "owner_pool": None, "regions": ["Śląskie"], "cities": [], "postal_codes": ["40-000-44-999"]}
    ]
    calendar = document["calendars"][0]
    assert calendar["opening_hours"][0] == {"weekday": 0, "opens": "08:00", "closes": "16:00"}


def test_demo_exported_and_imported_into_an_empty_database_routes_leads_identically(demo, tmp_path):
    staging_routing = route_sample()
    assert staging_routing[3][2] == "anna@techpol.example" and staging_routing[-1][2] == staging_routing[10][2]  # the sample means something
    call_command("export_routing", str(tmp_path / "routing.json"), stdout=StringIO())
    call_command("export_csv", "reps", str(tmp_path / "reps.csv"), stdout=StringIO())
    staging = without_time(json.loads((tmp_path / "routing.json").read_text()))

    database_empty()
    call_command("import_csv", "reps", str(tmp_path / "reps.csv"), stdout=StringIO())
    out = StringIO()
    call_command("import_routing", str(tmp_path / "routing.json"), stdout=out)

    assert "new channels without URL or secret: 6" in out.getvalue()
    assert without_time(routing_config_export()) == staging  # every rule, pool, list, territory, policy, calendar
    assert route_sample() == staging_routing


def test_importing_the_same_document_twice_changes_nothing(demo):
    document = routing_config_export()
    routing_config_import(document=document)
    rule_ids = list(Rule.objects.order_by("position").values_list("id", flat=True))
    routing_config_import(document=document)
    assert list(Rule.objects.order_by("position").values_list("id", flat=True)) == rule_ids  # matched by name, not recreated
    assert without_time(routing_config_export()) == without_time(document)


def test_existing_channel_secrets_are_kept(demo):
    Channel.objects.filter(name="SMS gateway").update(url="https://sms.example/send", secret="hmac-key")
    routing_config_import(document=routing_config_export())
    sms = Channel.objects.get(name="SMS gateway")
    assert (sms.url, sms.secret) == ("https://sms.example/send", "hmac-key")


def test_every_problem_is_reported_and_nothing_is_written(demo):
    document = routing_config_export()
    document["rules"][4]["target_rep"] = "nobody@techpol.example"
    document["rules"][5]["target_pool"] = "Seniors"
    document["rules"][0]["conditions"][0]["operator"] = "resembles"
    document["territories"].append(
        {"name": "Zagłębie", "owner_rep": "marek@techpol.example", "owner_pool": None, "regions": [], "cities": [], "postal_codes": ["41-000-41-999"]}
    )
    document["accounts"].append({"name": "Podróbka", "manager": "kasia@techpol.example", "domains": ["hutastal.example"]})
    document["sla_policies"][0]["calendar"] = "Night shift"
    document["rules"][1]["name"] = document["rules"][2]["name"]
    document["channels"][0]["secret"] = "leaked"
    document["rules"][-1]["is_active"] = False  # a valid change: must not be written either

    with pytest.raises(RoutingConfigError) as failure:
        routing_config_import(document=document)

    problems = "\n".join(failure.value.problems)
    assert "rules[4] “VIP domain → Anna”: no rep has the e-mail “nobody@techpol.example”" in problems
    assert 'rules[5] “Failure ("awaria") → Rapid response”: there is no pool named “Seniors”' in problems
    assert "rules[0] “Students and interns → disqualify”.conditions[0]: “operator” must be one of" in problems
    assert "territories[1] “Zagłębie”: postal codes 41-000-41-999 overlap 40-000-44-999 of territories[0] “Śląsk”, which has another owner" in problems
    assert "accounts[1] “Podróbka”: the domain hutastal.example already belongs to accounts[0] “Huta Stal S.A.”" in problems
    assert "sla_policies[0] “Critical”: there is no calendar named “Night shift”" in problems
    assert "rules: the name “Existing account → account manager” is used 2 times" in problems
    assert "“secret” is a secret and is not imported" in problems
    assert len(failure.value.problems) == 8
    assert Rule.objects.get(name="Webinar → Juniors pool").is_active
    assert not Territory.objects.filter(name="Zagłębie").exists()


def test_an_unsupported_version_is_refused():
    assert routing_config_check({"version": 2}) == ["Unsupported document version 2: this Leadrouter reads version 1."]
    assert routing_config_check([]) == ["The document must be a JSON object with a “version”."]


def test_rules_missing_from_the_document_are_switched_off_and_territories_deleted(demo):
    document = routing_config_export()
    document["rules"] = [r for r in document["rules"] if r["name"] != "Webinar → Juniors pool"]
    document["rules"].reverse()
    document["territories"] = []

    summary = routing_config_import(document=document)

    assert summary["rules switched off"] == 1 and summary["territories deleted"] == 1
    assert not Rule.objects.get(name="Webinar → Juniors pool").is_active
    assert Rule.objects.order_by("position").first().name == "Demo request → Demo pool"
    assert not Territory.objects.exists()


def test_import_routing_command_dry_run_writes_nothing_and_bad_json_is_a_clear_error(demo, tmp_path):
    document = routing_config_export()
    document["rules"] = []
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    out = StringIO()
    call_command("import_routing", str(path), "--dry-run", stdout=out)
    assert "rules switched off: 13" in out.getvalue() and "Dry run" in out.getvalue()
    assert Rule.objects.filter(is_active=True).count() == 13

    path.write_text('{"version": 1,,}', encoding="utf-8")
    with pytest.raises(CommandError, match="not valid JSON.*line 1, column 15"):
        call_command("import_routing", str(path))


def test_import_routing_command_prints_every_problem_and_exits_non_zero(demo, tmp_path):
    document = routing_config_export()
    document["pools"][0]["members"][0]["rep"] = "ghost@techpol.example"
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_routing", str(path), stderr=err, stdout=StringIO())
    assert "pools[0] “Demo”.members[0]: no rep has the e-mail “ghost@techpol.example”" in err.getvalue()


# The rule audit trail --------------------------------------------------------------------------------


def test_imported_rule_changes_are_audited_like_edits_by_hand(demo, tmp_path):
    from routing.models import RuleChange

    manager = get_user_model().objects.get(username="manager")
    document = routing_config_export()
    german = next(r for r in document["rules"] if r["name"] == "German form → Jan")
    german["target_rep"] = "tomek@techpol.example"
    german["conditions"][0].update(operator="in", value="de;at")
    document["rules"] = [r for r in document["rules"] if r["name"] != "Webinar → Juniors pool"]
    document["rules"].append({"name": "Budget → Anna", "target": "rep", "target_rep": "anna@techpol.example", "conditions": []})

    routing_config_import(document=document, user=manager)

    changes = {c.rule_name: c for c in RuleChange.objects.all()}
    assert set(changes) == {"German form → Jan", "Webinar → Juniors pool", "Budget → Anna"}  # nothing else changed
    assert all(c.user == manager and c.changes["via"] == "import" for c in changes.values())
    edited = changes["German form → Jan"]
    assert edited.action == "change"
    assert edited.changes["fields"] == {"target_rep": ["Jan Schmidt", "Tomek Wiśniewski"]}
    assert edited.changes["conditions"] == {"changed": [{"item": "language is one of de;at", "fields": {"operator": "in", "value": "de;at"}}]}
    assert changes["Webinar → Juniors pool"].action == "change"
    assert changes["Webinar → Juniors pool"].changes["fields"]["is_active"] == [True, False]
    assert changes["Budget → Anna"].action == "add" and changes["Budget → Anna"].rule == Rule.objects.get(name="Budget → Anna")

    # From the command line there is no user: the row says it came from an import.
    german["target_rep"] = "jan@techpol.example"
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    call_command("import_routing", str(path), stdout=StringIO())
    latest = RuleChange.objects.filter(rule_name="German form → Jan").first()
    assert latest.user is None and latest.changes["via"] == "import"
    assert latest.changes["fields"] == {"target_rep": ["Tomek Wiśniewski", "Jan Schmidt"]}


def test_importing_the_setup_as_it_is_or_as_a_dry_run_records_no_rule_change(demo):
    from routing.models import RuleChange

    document = routing_config_export()
    document["rules"][0]["is_active"] = False
    routing_config_import(document=document, dry_run=True)
    document["rules"][0]["is_active"] = True
    routing_config_import(document=document)
    assert not RuleChange.objects.exists()


def test_the_audit_trail_shows_who_imported_a_rule_from_the_routing_setup_page(demo):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from routing.models import RuleChange

    manager = Client()
    manager.force_login(get_user_model().objects.get(username="manager"))
    document = routing_config_export()
    document["rules"][0]["name"] = "Renamed in staging"
    manager.post("/admin/routing-setup/", {"document": SimpleUploadedFile("setup.json", json.dumps(document).encode())})

    added = RuleChange.objects.get(rule_name="Renamed in staging")
    assert added.action == "add" and added.user.username == "manager" and added.changes["via"] == "import"
    assert RuleChange.objects.get(rule_name="Students and interns → disqualify").changes["fields"]["is_active"] == [True, False]
    page = manager.get(reverse("admin:routing_rulechange_changelist")).content.decode()
    assert "manager (routing document import)" in page
