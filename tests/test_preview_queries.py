"""The preview of a lead (the API's /route/preview and the admin's "Test a lead": flows.selectors.lead_preview) takes
the same queries with the demo's 13 rules and with 500 rules and 200 more reps: no query per rule or per rep.

Counted by benchmarks.querycount.QueryCounter (no cap). The time of the decision itself with 500 rules is
tests/test_bench_routing.py (`make bench`).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from benchmarks.querycount import QueryCounter
from flows.selectors import lead_preview
from reps.models import Rep
from routing.models import Lead, Rule
from routing.ruleset import ruleset_active
from routing.services.intake import intake_source_create, lead_normalise
from tests.routing_world import routing_grow

TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=ZoneInfo("Europe/Warsaw"))

# Leads the 487 added rules (tests/routing_world.py) pass over: each is decided by a demo rule after all of them.
LEADS = {
    "demo request": {"email": "anna@fabryka.example", "source": "demo_request", "region": "Mazowieckie", "company_size": 40},
    "enterprise": {"email": "zakupy@huta.example", "company": "Huta", "company_size": 900, "job_title": "Dyrektor zakupów"},
    "failure": {"email": "utrzymanie@zaklad.example", "message": "AWARIA linii produkcyjnej", "region": "Śląskie"},
    "fallback": {"email": "kontakt@nikt.example", "source": "contact_form", "region": "Podlaskie"},
    "free mail": {"email": "jan.kowalski@gmail.com", "source": "newsletter"},
}


@pytest.fixture
def source(demo):
    return intake_source_create(name="Website form")[0]


def previewed(source, fields: dict) -> tuple[int, tuple]:
    lead = lead_normalise(Lead(intake_source=source, submitted_at=TUESDAY, **fields))
    lead.received_at = TUESDAY
    with QueryCounter() as counted:
        lead_preview(lead=lead, now=TUESDAY)
    return counted.total, (lead.status, lead.owner_id, lead.pool_id, lead.rule.name if lead.rule else None)


def test_previewing_a_lead_takes_the_same_queries_with_13_and_with_500_rules_and_200_more_reps(source):
    previewed(source, LEADS["demo request"])  # warm: the rule set, score rules and policies compiled once
    before = {name: previewed(source, fields) for name, fields in LEADS.items()}
    assert len(ruleset_active().rules) == 13

    reps_before = Rep.objects.count()
    routing_grow(rules=487, reps=200)
    assert Rule.objects.filter(is_active=True).count() == 500 and Rep.objects.count() == reps_before + 200
    previewed(source, LEADS["demo request"])  # the new rule set is compiled once (its version changed)
    assert len(ruleset_active().rules) == 500
    after = {name: previewed(source, fields) for name, fields in LEADS.items()}

    assert after == before  # the same outcome (the added rules do not match) for the same queries


def test_a_lead_matched_by_the_500th_rule_into_a_pool_of_ten_takes_the_queries_of_a_demo_pool_lead(source):
    routing_grow(rules=487, reps=200)
    previewed(source, LEADS["demo request"])  # warm
    demo_queries, demo = previewed(source, LEADS["demo request"])
    # Rule c481 (tests/routing_world.py): region one of Śląskie, Mazowieckie, Małopolskie and campaign c481 -> a pool.
    late_queries, late = previewed(source, {"email": "x@firma.example", "region": "Małopolskie", "extra": {"campaign": "c481"}})
    assert late[3] == "Kampania c481" and late[2] is not None and late[0] == "assigned"
    assert demo[3] != late[3]
    assert late_queries == demo_queries
