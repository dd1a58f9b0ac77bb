"""Two SLA sweeps at once (PostgreSQL: row locks with SKIP LOCKED, and the unique (lead, step) firing row)."""

import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction

import flows.services.sweep
import sla.services
from flows.services.leads import lead_create
from flows.services.sweep import sla_tick
from routing.models import LeadEvent
from routing.services.intake import intake_source_create
from sla.models import EscalationStep, StepFiring

WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY_10 = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)
TUESDAY_1030 = datetime(2026, 11, 17, 10, 30, tzinfo=WARSAW)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_threads(n: int, work) -> list:
    """Run `work()` in n threads started together; each thread closes its own connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work()
        except BaseException as exc:  # surfaced below: a thread must not fail silently
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_sweeps_at_once_fire_each_step_exactly_once(demo, monkeypatch):
    source, _token = intake_source_create(name="Website form")
    leads = [
        lead_create(source=source, fields={"email": f"buyer{i}@fabryka{i}.example", "source": "demo_request", "submitted_at": TUESDAY_10}, now=TUESDAY_10)[0]
        for i in range(12)
    ]
    real = flows.services.sweep.escalation_notify

    def slow_notify(**kwargs):
        time.sleep(0.02)  # hold each lead's row lock a little, so the two sweeps really overlap
        return real(**kwargs)

    monkeypatch.setattr(flows.services.sweep, "escalation_notify", slow_notify)

    fired = in_threads(2, lambda: sla_tick(now=TUESDAY_1030))

    # remind (15) and reassign (30) for every lead, shared between the two sweeps, none twice.
    assert sum(fired) == 2 * len(leads)
    assert StepFiring.objects.count() == 2 * len(leads)
    for lead in leads:
        assert set(StepFiring.objects.filter(lead=lead).values_list("step__kind", flat=True)) == {
            EscalationStep.Kind.REMIND,
            EscalationStep.Kind.REASSIGN,
        }
        assert LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER).count() == 1
        assert LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REASSIGNED).count() == 1
        lead.refresh_from_db()
        assert lead.sla_next_step_at == datetime(2026, 11, 17, 11, 30, tzinfo=WARSAW)

    assert in_threads(2, lambda: sla_tick(now=TUESDAY_1030)) == [0, 0]


def test_a_step_being_fired_by_another_worker_is_not_fired_again(demo):
    """Without the row lock (another code path, a stale pointer), the unique firing row still settles it:
    the second insert waits for the first transaction and then finds the step fired."""
    source, _token = intake_source_create(name="Website form")
    lead = lead_create(source=source, fields={"email": "kto@fabryka.example", "source": "demo_request", "submitted_at": TUESDAY_10}, now=TUESDAY_10)[0]
    step = EscalationStep.objects.get(policy__name="Critical", kind=EscalationStep.Kind.REMIND)
    first_inserted, release = threading.Event(), threading.Event()
    outcome = {}

    def first():
        with transaction.atomic():
            outcome["first"] = sla.services._firing_claim(lead=lead, step=step, due=TUESDAY_1030, now=TUESDAY_1030)
            first_inserted.set()
            release.wait(timeout=30)

    def second():
        first_inserted.wait(timeout=30)
        with transaction.atomic():
            outcome["second"] = sla.services._firing_claim(lead=lead, step=step, due=TUESDAY_1030, now=TUESDAY_1030)

    def run(fn):
        try:
            fn()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in (first, second)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the second insert is now waiting on the first transaction
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert outcome == {"first": True, "second": False}
    assert StepFiring.objects.filter(lead=lead, step=step).count() == 1
