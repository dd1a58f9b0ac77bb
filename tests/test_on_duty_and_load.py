"""No lead without an owner, and even workload (TechPol demo, Europe/Warsaw).

On duty: kasia on Monday, Wednesday and Friday, marek on Tuesday and Thursday. When the rules' pools and the
fallback pool (Juniors: marek, ola) can place nobody, the rep on duty takes the lead at intake; only when they
cannot either is it left unassigned. A least-open pool gives each lead to the available member with the fewest
open leads (assigned, not yet contacted), ties in turn.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from core import resolver
from core.memory_roster import MemoryRoster, RosterState
from flows.services.leads import activity_log, lead_create
from reps.models import OnDutyOverride, Pool, PoolMembership, Rep
from reps.pool_overview import pool_loads_today, pool_next_rep
from reps.roster import LockingRoster, PreviewRoster
from routing.models import Lead, LeadEvent
from routing.replay.load import world_load
from routing.services.assignment import lead_route
from routing.services.intake import lead_normalise
from tests.factories import LeadFactory

WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)  # marek on duty
WEDNESDAY = datetime(2026, 11, 18, 10, 0, tzinfo=WARSAW)  # kasia on duty

CAUGHT = "Nobody in the fallback pool could take it: the on-duty rep Kasia Nowak takes it."
LEFT = "Nobody is available, not even in the fallback pool: the lead is left unassigned for the manager."


@pytest.fixture
def source(website):
    return website[0]


@pytest.fixture
def take_in(source):
    def take(when: datetime, **fields) -> Lead:
        fields.setdefault("email", f"buyer{Lead.objects.count()}@fabryka.example")
        fields.setdefault("submitted_at", when)
        with time_machine.travel(when, tick=False):
            lead, created = lead_create(source=source, fields=fields, now=when)
        assert created
        return lead

    return take


def away(*reps: Rep) -> None:
    Rep.objects.filter(pk__in=[rep.pk for rep in reps]).update(status=Rep.Status.AWAY)


# ---------------------------------------------------------------------------------------------- on duty at intake


def test_with_marek_and_ola_away_a_lead_no_rule_places_goes_to_kasia_on_duty_on_wednesday(take_in, marek, ola, kasia):
    away(marek, ola)
    lead = take_in(WEDNESDAY, source="contact_form")  # no rule matches: the fallback pool, Juniors

    assert (lead.status, lead.owner, lead.pool, lead.needs_attention) == (Lead.Status.ASSIGNED, kasia, None, False)
    assert lead.explanation[-5:] == [
        "Juniors: Marek Zieliński skipped: away",
        "Juniors: Ola Wójcik skipped: away",
        "Juniors: nobody in the pool can take the lead",
        CAUGHT,
        "Assigned to Kasia Nowak.",
    ]
    assert LeadEvent.objects.get(lead=lead, type=LeadEvent.Type.ASSIGNED).rep == kasia
    assert lead.sla_due_at is not None, "an owned lead gets its clock"


def test_an_empty_fallback_pool_sends_the_lead_to_the_rep_on_duty(take_in, kasia):
    PoolMembership.objects.filter(pool__name="Juniors").delete()
    lead = take_in(WEDNESDAY, source="webinar")  # the webinar rule's pool is Juniors, the fallback itself

    assert lead.owner == kasia
    assert "Juniors has no members" in lead.explanation
    assert CAUGHT in lead.explanation


def test_without_a_fallback_pool_the_rep_on_duty_still_takes_the_lead(take_in, kasia):
    Pool.objects.update(is_fallback=False)
    lead = take_in(WEDNESDAY, source="contact_form")

    assert lead.owner == kasia
    assert lead.explanation[-3:] == ["No fallback pool is configured.", "The on-duty rep Kasia Nowak takes it.", "Assigned to Kasia Nowak."]


def test_a_demo_request_nobody_in_the_demo_and_juniors_pools_can_take_goes_to_the_rep_on_duty_of_the_day(take_in, marek, ola, kasia, tomek):
    away(marek, ola)
    Rep.objects.filter(pk=kasia.pk).update(daily_cap=0)  # kasia capped for pool leads...
    lead = take_in(WEDNESDAY, source="demo_request")
    assert lead.owner == kasia, "...yet on duty she catches what the pools cannot (like a pool's fallback owner, no cap)"
    assert "Demo: Kasia Nowak skipped: reached the daily cap of 0" in lead.explanation
    assert "Nobody in Demo can take the lead: it goes to the fallback pool." in lead.explanation
    assert CAUGHT in lead.explanation

    OnDutyOverride.objects.create(date=TUESDAY.date(), rep=tomek)  # a swap: tomek instead of marek on Tuesday
    assert take_in(TUESDAY, source="demo_request").owner == tomek


def test_when_the_rep_on_duty_is_away_too_the_lead_is_left_unassigned_for_the_manager(take_in, marek, ola):
    away(marek, ola)  # marek is Tuesday's rep on duty
    lead = take_in(TUESDAY, source="contact_form")

    assert (lead.status, lead.owner, lead.needs_attention) == (Lead.Status.UNASSIGNED, None, True)
    assert lead.explanation[-2:] == ["The on-duty rep Marek Zieliński is away too.", LEFT]
    assert LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.UNASSIGNED).count() == 1


def test_all_away_leaves_a_demo_request_unassigned(take_in, demo):
    away(*demo.values())
    lead = take_in(WEDNESDAY, source="demo_request")
    assert (lead.status, lead.owner, lead.needs_attention) == (Lead.Status.UNASSIGNED, None, True)
    assert lead.explanation[-2:] == ["The on-duty rep Kasia Nowak is away too.", LEFT]


def test_nobody_on_duty_that_day_says_so(take_in, marek, ola):
    away(marek, ola)
    saturday = datetime(2026, 11, 21, 10, 0, tzinfo=WARSAW)  # the demo's rota has no weekend
    lead = take_in(saturday, source="contact_form")
    assert lead.owner is None
    assert lead.explanation[-2:] == ["Nobody is on duty on 2026-11-21.", LEFT]


def test_a_named_rep_away_still_hands_over_to_the_rep_on_duty(take_in, tomek, kasia):
    away(tomek)
    lead = take_in(WEDNESDAY, company_size=500)  # rule 7: tomek
    assert lead.owner == kasia
    assert "The rule's rep Tomek Wiśniewski is away: the lead goes to the on-duty rep." in lead.explanation


def test_the_preview_says_what_intake_then_does(api, marek, ola, kasia):
    away(marek, ola)
    body = {"email": "cto@sklep.example", "source": "contact_form"}
    with time_machine.travel(WEDNESDAY, tick=False):
        preview = api.post("/api/v1/route/preview", data=json.dumps(body), content_type="application/json").json()
        stored = api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json").json()
    assert preview["owner"]["email"] == kasia.email == stored["owner"]["email"]
    assert CAUGHT in preview["explanation"]
    assert preview["explanation"] == stored["explanation"]


def test_the_what_if_replay_gives_the_rep_on_duty_too(demo, marek, ola, kasia):
    Rep.objects.filter(pk__in=[marek.pk, ola.pk]).update(status=Rep.Status.AWAY)
    w = world_load(since=WEDNESDAY.date(), until=WEDNESDAY.date())
    # The replay leaves today's statuses out (they say nothing about last month); seeded with them it answers as today.
    w = replace(w, reps={pk: replace(info, status=Rep.objects.get(pk=pk).status) for pk, info in w.reps.items()})
    found = resolver.resolve(resolver.ToFallback(), MemoryRoster(w, WEDNESDAY.date()))
    assert (found.owner_id, found.pool_id) == (kasia.pk, None)
    assert CAUGHT in found.lines
    assert found == resolver.resolve(resolver.ToFallback(), PreviewRoster(day=WEDNESDAY.date()))


# ---------------------------------------------------------------------------------------------- least open


@pytest.fixture
def least_open_demo(demo):
    """The Demo pool (kasia, marek, ola) as a least-open pool."""
    pool = Pool.objects.get(name="Demo")
    pool.strategy = Pool.Strategy.LEAST_OPEN
    pool.save(update_fields=["strategy"])
    return pool


def give(rep: Rep, n: int, status: str = Lead.Status.ASSIGNED) -> None:
    for _ in range(n):
        LeadFactory(owner=rep, status=status, submitted_at=TUESDAY - timedelta(days=1))


def test_a_least_open_pool_gives_each_lead_to_the_member_with_the_fewest_open_leads_ties_in_turn(least_open_demo, take_in, kasia, marek, ola):
    give(kasia, 3)
    give(marek, 1)
    give(ola, 1)
    give(kasia, 4, status=Lead.Status.CONTACTED)  # answered: not open
    give(ola, 2, status=Lead.Status.DISQUALIFIED)

    leads = [take_in(TUESDAY + timedelta(minutes=i), source="demo_request") for i in range(5)]

    assert [lead.owner for lead in leads] == [marek, ola, marek, ola, kasia]
    assert "Demo: Marek Zieliński is next in turn of those with the fewest open leads (1)" in leads[0].explanation
    assert "Demo: Ola Wójcik has the fewest open leads (1)" in leads[1].explanation
    assert "Demo: Kasia Nowak is next in turn of those with the fewest open leads (3)" in leads[4].explanation
    assert all(lead.pool == least_open_demo for lead in leads)


def test_a_first_response_frees_a_slot_in_a_least_open_pool(least_open_demo, take_in, kasia, marek, ola):
    give(marek, 2)
    give(ola, 2)
    first = take_in(TUESDAY, source="demo_request")
    assert first.owner == kasia  # 0 open
    give(kasia, 1)  # kasia: 2 open, like the others
    with time_machine.travel(TUESDAY + timedelta(minutes=5), tick=False):
        activity_log(lead=first, kind="call", at=TUESDAY + timedelta(minutes=5))  # now 1 open: fewest
    assert take_in(TUESDAY + timedelta(minutes=6), source="demo_request").owner == kasia


def test_caps_and_availability_still_apply_in_a_least_open_pool(least_open_demo, take_in, kasia, marek, ola):
    give(kasia, 5)
    Rep.objects.filter(pk=marek.pk).update(daily_cap=0)
    away(ola)
    lead = take_in(TUESDAY, source="demo_request")
    assert lead.owner == kasia, "the only member who may take a lead, however many she has"
    assert "Demo: Marek Zieliński skipped: reached the daily cap of 0" in lead.explanation
    assert "Demo: Ola Wójcik skipped: away" in lead.explanation


def test_the_pool_page_and_the_preview_name_the_least_loaded_rep_next(least_open_demo, kasia, marek, ola):
    give(kasia, 2)
    give(marek, 1)
    name, lines = pool_next_rep(pool=least_open_demo, now=TUESDAY)
    assert name == "Ola Wójcik"
    assert lines[-1] == "Demo: Ola Wójcik has the fewest open leads (0)"
    assert [(row.name, row.open_leads) for row in pool_loads_today(pool=least_open_demo, now=TUESDAY)] == [
        ("Kasia Nowak", 2),
        ("Marek Zieliński", 1),
        ("Ola Wójcik", 0),
    ]
    assert pool_next_rep(pool=least_open_demo, now=TUESDAY)[0] == "Ola Wójcik", "the page moves nothing"


def test_the_three_rosters_agree_on_a_least_open_pick(least_open_demo, kasia, marek, ola):
    give(kasia, 1)
    give(marek, 1)
    give(ola, 3)
    day = TUESDAY.date()
    counts = PreviewRoster(day=day).open_leads([kasia.pk, marek.pk, ola.pk])
    state = RosterState(open_leads=Counter(counts))
    w = world_load(since=day, until=day)
    target = resolver.ToPool(least_open_demo.pk)
    picks = []
    with transaction.atomic():
        for _ in range(3):
            memory = resolver.resolve(target, MemoryRoster(w, day, state))
            preview = resolver.resolve(target, PreviewRoster(day=day))
            locking = resolver.resolve(target, LockingRoster(day=day))
            assert memory == preview == locking
            state.lead_owned(memory.owner_id)
            LeadFactory(owner_id=locking.owner_id, status=Lead.Status.ASSIGNED)  # what intake stores
            picks.append(locking.owner_id)
        transaction.set_rollback(True)
    assert picks == [kasia.pk, marek.pk, kasia.pk]


def test_the_pool_admin_edits_the_strategy_and_shows_open_leads(least_open_demo, client, kasia):
    give(kasia, 2)
    client.login(username="manager", password="demo")
    page = client.get(f"/admin/reps/pool/{least_open_demo.pk}/change/").content.decode()
    assert 'name="strategy"' in page and "Fewest open leads" in page
    assert "open leads: 2" in page
    data = {"name": "Demo", "strategy": "round_robin", "fallback_rep": "", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}
    assert client.post(f"/admin/reps/pool/{least_open_demo.pk}/change/", data).status_code == 302
    least_open_demo.refresh_from_db()
    assert least_open_demo.strategy == Pool.Strategy.ROUND_ROBIN


# ---------------------------------------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_intakes_even_out_a_least_open_pool_from_five_none_and_two(least_open_demo, kasia, marek, ola):
    give(kasia, 5)
    give(ola, 2)
    now = timezone.now()
    leads = [lead_normalise(LeadFactory(source="demo_request", submitted_at=now - timedelta(seconds=5))) for _ in range(50)]
    for lead in leads:
        lead.save()
    barrier = threading.Barrier(len(leads))
    errors: list[Exception] = []

    def work(lead_id: int) -> None:
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                lead_route(lead=Lead.objects.get(pk=lead_id), now=now)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(lead.pk,)) for lead in leads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    open_now = Counter(Lead.objects.filter(status=Lead.Status.ASSIGNED).values_list("owner_id", flat=True))
    assert sum(open_now.values()) == 57
    assert max(open_now.values()) - min(open_now.values()) <= 1
    # Events are written while the pool row is locked, so their ids are in pick order: replay the counts.
    counts = {kasia.pk: 5, marek.pk: 0, ola.pk: 2}
    picked = list(LeadEvent.objects.filter(type=LeadEvent.Type.ASSIGNED).order_by("id").values_list("rep_id", flat=True))
    assert len(picked) == 50
    for rep_id in picked:
        assert counts[rep_id] == min(counts.values()), "nobody got a lead while another had fewer"
        counts[rep_id] += 1
    assert counts == dict(open_now)


def test_least_recent_turns_are_plain_turns_and_stay_small():
    from core.round_robin import least_recent

    turn: dict[int, int] = {}
    chosen = []
    for _ in range(7):
        rep, turn = least_recent([1, 2, 3], turn)
        chosen.append(rep)
    assert chosen == [1, 2, 3, 1, 2, 3, 1]
    assert sorted(turn.values()) == [0, 1, 2]
    assert least_recent([3, 2], turn)[0] == 2  # of the tied, the one served longest ago
