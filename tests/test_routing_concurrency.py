"""Concurrent intake on PostgreSQL: the pool row lock serves leads strictly in turn."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from reps.models import OnDutyRota, Pool, Rep, RepDayLoad
from routing.models import Lead, LeadEvent, Rule
from routing.services.assignment import lead_route
from routing.services.intake import lead_normalise
from tests.factories import LeadFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 50


def route_concurrently(leads, now):
    barrier = threading.Barrier(len(leads))
    errors = []

    def work(lead_id):
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


def test_fifty_concurrent_demo_requests_are_split_in_turn_with_no_double_pick(demo):
    now = timezone.now()
    leads = [lead_normalise(LeadFactory(source="demo_request", submitted_at=now - timedelta(seconds=5))) for _ in range(N)]
    for lead in leads:
        lead.save()

    route_concurrently(leads, now)

    events = list(LeadEvent.objects.filter(type=LeadEvent.Type.ASSIGNED).order_by("id").values_list("rep__name", flat=True))
    assert len(events) == N
    counts = Counter(events)
    assert set(counts) == {"Kasia Nowak", "Marek Zieliński", "Ola Wójcik"}
    assert max(counts.values()) - min(counts.values()) <= 1
    # Events are written while the pool row is locked, so their ids are in pick order.
    assert all(a != b for a, b in zip(events, events[1:], strict=False))
    assert Rule.objects.get(name__startswith="Demo request").hits == N
    assert sum(RepDayLoad.objects.values_list("assigned", flat=True)) == N
    assert Lead.objects.filter(status=Lead.Status.ASSIGNED, pool=Pool.objects.get(name="Demo")).count() == N


def test_concurrent_leads_respect_the_daily_cap(demo):
    Rep.objects.filter(user__username__in=["kasia", "marek", "ola"]).update(daily_cap=5)
    OnDutyRota.objects.all().delete()  # nobody on duty to catch the overflow (tests/test_on_duty_and_load.py does that)
    now = timezone.now()
    leads = [lead_normalise(LeadFactory(source="demo_request", submitted_at=now)) for _ in range(20)]
    for lead in leads:
        lead.save()

    route_concurrently(leads, now)

    demo_pool_leads = Lead.objects.filter(pool__name="Demo", status=Lead.Status.ASSIGNED)
    assert Counter(demo_pool_leads.values_list("owner__name", flat=True)) == {"Kasia Nowak": 5, "Marek Zieliński": 5, "Ola Wójcik": 5}
    # The other five went on to the fallback pool (Juniors: marek and ola are capped there too) and wait for the manager.
    assert Lead.objects.filter(status=Lead.Status.UNASSIGNED, needs_attention=True).count() == 5
