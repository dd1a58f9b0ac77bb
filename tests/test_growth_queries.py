"""Growth-proof reads (issue 11): the what-if replay, the dashboard, the wall and the weekly digest read with a
number of queries that does not grow with the leads, the reps or the pools.

The data hides nothing (tests/growth_world.py): every lead has its own e-mail domain, region, city, postal code
and, one fact each, its own account (on the parent of its domain), VIP entry, territory by postal range, city or
region, or earlier lead; fifty reps in ten pools, absences on different days. A cache keyed by equal values would
save nothing here, so a query per lead, per distinct domain or per rep shows up as a different count.

Counts are taken with `benchmarks.querycount.QueryCounter` (no cap) in a warm process: each figure is read once
before it is counted (compiled vocabularies and the like are kept per process, whatever the data).

The bulk loader of the replay (`routing.replay.facts`) and the single-lead lookups (`routing.ruleset.lead_facts`
over `reps.selectors`) choose among the rows found with the same functions (`core.facts`); the tests at the end
check they give every lead the same facts: an account on a parent domain, a repeat lead, a territory.
"""

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from benchmarks.querycount import QueryCounter
from core.text import fold
from flows.digest import digest_compose
from flows.metrics import dashboard, scope_for, wall
from reps.models import Account, AccountDomain, DomainList, DomainListEntry, PostalRange, Territory, TerritoryCity, TerritoryRegion
from routing.models import Lead
from routing.replay import replay_run
from routing.replay.facts import FactsBulk
from routing.ruleset import lead_facts
from routing.selectors import REPEAT_LOOKBACK
from routing.services.intake import lead_normalise
from routing.services.rule_tables import draft_start
from tests.factories import IntakeSourceFactory
from tests.growth_world import KINDS, grow

pytestmark = pytest.mark.django_db

WARSAW = ZoneInfo("Europe/Warsaw")
SINCE = datetime(2026, 10, 1, tzinfo=WARSAW)
UNTIL = datetime(2026, 11, 1, tzinfo=WARSAW)
NOW = datetime(2026, 10, 28, 12, 0, tzinfo=WARSAW)
WEEK = date(2026, 10, 19)  # a Monday inside the period


def warm_count(read) -> int:
    """Statements of `read()` in a warm process (run once first)."""
    read()
    with QueryCounter() as counted:
        read()
    return counted.total


@pytest.fixture
def manager(demo):
    return get_user_model().objects.get(username="manager")


@pytest.fixture
def manager_client(manager):
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def draft(manager):
    return draft_start(user=manager, name="Growth draft")


# ---------------------------------------------------------------------------------------------- the what-if replay


def test_replay_of_20_or_200_leads_with_5_or_50_reps_costs_the_same_queries(draft, manager_client):
    def replay():
        return replay_run(table=draft, since=SINCE, until=UNTIL)

    def page():
        with time_machine.travel(NOW, tick=False):
            response = manager_client.get("/admin/routing/rule/draft/what-if/", {"days": "30"})
        assert response.status_code == 200

    grow(tag="s", first=0, reps=5, leads=20, since=SINCE)
    small = (warm_count(replay), warm_count(page))
    result = replay()
    assert len(result.leads) == 20

    grow(tag="b", first=20, reps=45, leads=180, since=SINCE)
    big = (warm_count(replay), warm_count(page))
    result = replay()
    assert len(result.leads) == 200

    assert big == small, f"replay {small[0]} -> {big[0]} queries, what-if page {small[1]} -> {big[1]}"
    assert small[0] <= 25  # one query per kind of fact, the world, both tables: docs/performance.md
    # The data really has every kind of fact: the rules these leads matched in the live run.
    names = {result.rule_names.get(r.live.rule_id) for r in result.leads}
    assert {
        "Existing account → account manager",
        "Repeat lead → previous owner",
        "VIP domain → Anna",
        "Territory → territory owner",
    } <= names
    territory_owners = {r.live.rep_id for r in result.leads if result.rule_names.get(r.live.rule_id) == "Territory → territory owner"}
    assert len(territory_owners) > 10  # many reps, not one cached answer


# ---------------------------------------------------------------------------------------------- dashboard, wall, digest


def test_dashboard_wall_and_digest_with_5_or_50_reps_and_20_or_200_leads_cost_the_same_queries(manager_client):
    def pages():
        with time_machine.travel(NOW, tick=False):
            for url in ("/admin/dashboard/?period=30", "/admin/dashboard/csv/reps/?period=30", "/dashboard/wall/"):
                assert manager_client.get(url).status_code == 200

    team = None

    def reads() -> dict[str, int]:
        counts = {
            "dashboard": warm_count(lambda: dashboard(now=NOW, days=30)),
            "dashboard of a team and source": warm_count(lambda: dashboard(now=NOW, scope=scope_for(now=NOW, preset="30", pool_id=team, source="webinar"))),
            "wall": warm_count(lambda: wall(now=NOW)),
            "digest": warm_count(lambda: digest_compose(week_start=WEEK, now=NOW)),
            "pages": warm_count(pages),
        }
        return counts

    small_world = grow(tag="s", first=0, reps=5, leads=20, since=SINCE)
    team = small_world.pools[0].pk
    small = reads()
    d = dashboard(now=NOW, days=30)
    assert d.received == 20 and len([line for line in d.distribution if line.name.startswith("Growth")]) == 5

    grow(tag="b", first=20, reps=45, leads=180, since=SINCE)
    big = reads()
    d = dashboard(now=NOW, days=30)
    assert d.received == 200 and len([line for line in d.distribution if line.name.startswith("Growth")]) == 50
    assert len([line for line in d.pools if line.name.startswith("Growth")]) == 10

    assert big == small
    assert small["dashboard"] <= 20 and small["wall"] <= 8


# ---------------------------------------------------------------------------------------------- one answer, one lead or many


def bulk_facts(leads: list[Lead]) -> dict[int, object]:
    """Each lead's facts as the replay's bulk loader gives them (the repeat fact as intake sees it)."""
    bulk = FactsBulk(leads)
    return {lead.pk: replace(bulk.base(lead), repeat=bulk.repeat(lead)) for lead in leads}


def test_bulk_facts_are_the_single_lead_facts_for_every_lead(demo):
    grown = grow(tag="e", first=0, reps=10, leads=60, since=SINCE)
    leads = grown.leads + grown.earlier
    bulk = bulk_facts(leads)
    for lead in leads:
        assert bulk[lead.pk] == lead_facts(lead), f"lead {lead.pk} ({lead.email}, kind {int(lead.company.split()[-1]) % KINDS})"
    # and every kind of fact was there to compare
    assert sum(1 for f in bulk.values() if f.account) >= 10
    assert sum(1 for f in bulk.values() if f.repeat) >= 10
    assert sum(1 for f in bulk.values() if f.territory) >= 30
    assert sum(1 for f in bulk.values() if f.domain_list_ids) >= 10


def stored(source, **fields) -> Lead:
    """A lead stored as intake stores it (normalised copies), bypassing routing."""
    fields.setdefault("submitted_at", SINCE)
    lead = lead_normalise(Lead(intake_source=source, received_at=SINCE, **fields))
    lead.save()
    return lead


def test_account_by_e_mail_domain_walks_up_parent_domains_alike_in_bulk(demo, tomek, anna):
    """pl.hutastal.example is Huta Stal's (the account is on hutastal.example); the most specific domain wins."""
    source = IntakeSourceFactory()
    polska = Account.objects.create(name="Huta Stal Polska", manager=anna)
    AccountDomain.objects.create(account=polska, domain="pl.hutastal.example")
    leads = [
        stored(source, email="ewa@biuro.hutastal.example"),  # parent: Huta Stal S.A.
        stored(source, email="jan@dzial.pl.hutastal.example"),  # two parents: the nearer one, Huta Stal Polska
        stored(source, email="ola@hutastal.example"),
        stored(source, email="nikt@hutastal.example.org"),  # not a subdomain
    ]
    bulk = bulk_facts(leads)
    single = {lead.pk: lead_facts(lead) for lead in leads}
    assert [(bulk[lead.pk].account.name if bulk[lead.pk].account else None) for lead in leads] == [
        "Huta Stal S.A.",
        "Huta Stal Polska",
        "Huta Stal S.A.",
        None,
    ]
    assert [bulk[lead.pk].account for lead in leads] == [single[lead.pk].account for lead in leads]
    assert bulk[leads[0].pk].account.manager_id == tomek.pk and bulk[leads[0].pk].account.domain == "hutastal.example"


def test_domain_lists_hold_parents_and_exceptions_alike_in_bulk(demo):
    source = IntakeSourceFactory()
    vip, free = DomainList.objects.get(name="VIP"), DomainList.objects.get(name="Free mail")
    DomainListEntry.objects.create(domain_list=vip, domain="oddzial.bigbank.example", is_exception=True)
    shops = DomainList.objects.create(name="Sklepy")
    DomainListEntry.objects.create(domain_list=shops, domain="żabka.pl")  # stored as Unicode
    DomainListEntry.objects.create(domain_list=shops, domain="xn--mrwka-1ta.pl")  # kept from before as an A-label
    leads = [
        stored(source, email="a@centrala.bigbank.example"),  # a parent is on the VIP list
        stored(source, email="b@x.oddzial.bigbank.example"),  # ... but this branch is an exception
        stored(source, email="c@gmail.com"),  # the built-in free-mail package
        stored(source, email="d@sklep.ŻABKA.pl"),
        stored(source, email="e@mrówka.pl"),
    ]
    bulk = bulk_facts(leads)
    assert [bulk[lead.pk].domain_list_ids for lead in leads] == [lead_facts(lead).domain_list_ids for lead in leads]
    assert vip.pk in bulk[leads[0].pk].domain_list_ids and vip.pk not in bulk[leads[1].pk].domain_list_ids
    assert free.pk in bulk[leads[2].pk].domain_list_ids
    assert shops.pk in bulk[leads[3].pk].domain_list_ids and shops.pk in bulk[leads[4].pk].domain_list_ids


def test_repeat_lead_counts_only_earlier_leads_newest_first_alike_in_bulk(demo, kasia, marek):
    """Earlier leads of the same address (in any case), stored before the lead; the previous owner is the newest
    earlier lead's that had one; at most REPEAT_LOOKBACK of them."""
    source = IntakeSourceFactory()
    first = stored(source, email="wraca@firma.example", owner=kasia)
    second = stored(source, email="Wraca@Firma.example", owner=marek)
    third = stored(source, email="wraca@firma.example")  # no owner: the previous owner stays Marek
    fourth = stored(source, email="wraca@firma.example")
    many = [stored(source, email="czesto@firma.example", owner=kasia) for _ in range(REPEAT_LOOKBACK + 3)]
    leads = [first, second, third, fourth, many[-1]]
    bulk = bulk_facts(leads)
    for lead in leads:
        assert bulk[lead.pk].repeat == lead_facts(lead).repeat
    assert bulk[first.pk].repeat is None
    assert bulk[fourth.pk].repeat.earlier_lead_ids == (third.pk, second.pk, first.pk)
    assert (bulk[fourth.pk].repeat.previous_lead_id, bulk[fourth.pk].repeat.previous_owner_id) == (second.pk, marek.pk)
    assert len(bulk[many[-1].pk].repeat.earlier_lead_ids) == REPEAT_LOOKBACK


def test_territory_narrowest_postal_range_then_city_then_region_in_any_spelling_alike_in_bulk(demo, kasia, jan):
    """The demo's Śląsk (Kasia) has region Śląskie and codes 40-000–44-999; Katowice-Centrum (Jan) has 40-001–40-099
    and the city Gliwice."""
    source = IntakeSourceFactory()
    centrum = Territory.objects.create(name="Katowice-Centrum", owner_rep=jan)
    PostalRange.objects.create(territory=centrum, start=40001, end=40099)
    TerritoryCity.objects.create(territory=centrum, name="Gliwice", key=fold("Gliwice"))
    TerritoryRegion.objects.create(territory=centrum, name="Opolskie", key=fold("Opolskie"))
    leads = [
        stored(source, email="a@a.example", postal_code="40-050", city="Gliwice"),  # the narrower range, before the city
        stored(source, email="b@b.example", postal_code="44-100", city="Gliwice"),  # only Śląsk's range
        stored(source, email="c@c.example", postal_code="99-999", city="gliwice", region="Śląskie"),  # city before region
        stored(source, email="d@d.example", region="woj. slaskie"),  # a spelling of Śląskie
        stored(source, email="e@e.example", region="Śląskie"),
        stored(source, email="f@f.example", region="Nigdzie", city="Nigdzie", postal_code="98-000"),
    ]
    bulk = bulk_facts(leads)
    assert [bulk[lead.pk].territory for lead in leads] == [lead_facts(lead).territory for lead in leads]
    owners = [(t.name, t.owner_rep_id) if (t := bulk[lead.pk].territory) else None for lead in leads]
    assert owners == [
        ("Katowice-Centrum", jan.pk),
        ("Śląsk", kasia.pk),
        ("Katowice-Centrum", jan.pk),
        ("Śląsk", kasia.pk),
        ("Śląsk", kasia.pk),
        None,
    ]
    assert [str(bulk[lead.pk].territory.matched_by) for lead in leads[:5]] == [
        "postal codes 40-001–40-099",
        "postal codes 40-000–44-999",
        "city Gliwice",
        "region “woj. slaskie” (Śląskie)",
        "region Śląskie",
    ]
