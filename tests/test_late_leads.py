"""Late leads are urgent, not silent (TechPol demo, Europe/Warsaw, office Mon-Fri 08:00-16:00).

A lead delivered late (a polling integration, a CRM outage) has its escalation steps that fell due before it
arrived collapsed into one action at the first sweep after arrival while the office is open: its owner is told
it arrived already overdue, and the chain goes on from there. A lead older than its policy's whole chain (a
replayed backlog) is flagged for the manager once and pages nobody. Critical: remind 15, reassign 30, alert 90.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from flows.services.leads import lead_create
from flows.services.sweep import sla_tick
from notifications.models import OutboxMessage
from reps.models import Rep
from routing.models import Lead, LeadEvent
from sla.models import EscalationStep, SlaPolicy, StepFiring

WARSAW = ZoneInfo("Europe/Warsaw")


def at(d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, d, hh, mm, tzinfo=WARSAW)


TUESDAY_10 = at(17, 10)


@pytest.fixture
def source(website):
    return website[0]


@pytest.fixture
def take_in(source):
    """Take a lead in through intake as of `when` (submitted then, unless `submitted_at` says otherwise)."""

    def take(when: datetime, **fields) -> Lead:
        fields.setdefault("email", f"buyer{Lead.objects.count()}@fabryka.example")
        fields.setdefault("submitted_at", when)
        with time_machine.travel(when, tick=False):
            lead, created = lead_create(source=source, fields=fields, now=when)
        assert created
        return lead

    return take


@pytest.fixture
def late_in(take_in):
    """Take in a lead submitted at `submitted` that reaches us only at `arrived`."""

    def take(submitted: datetime, arrived: datetime, **fields) -> Lead:
        return take_in(arrived, submitted_at=submitted, **fields)

    return take


def tick(when: datetime) -> int:
    with time_machine.travel(when, tick=False):
        return sla_tick(now=when)


def chain_events(lead: Lead) -> list[tuple[str, str | None]]:
    rows = LeadEvent.objects.filter(lead=lead, type__in=["reminder", "reassigned", "escalated"]).order_by("at", "id")
    return [(e.type, e.rep.user.username if e.rep else None) for e in rows]


def sent_by_sweeps(lead: Lead) -> set[str]:
    """Recipients of the outbox messages of SLA steps (event-keyed), not the intake's messages."""
    return set(OutboxMessage.objects.filter(lead=lead, key__contains=":e").values_list("recipient", flat=True))


def test_a_lead_delivered_20_business_minutes_late_tells_its_owner_once_at_the_next_sweep_and_the_chain_goes_on(late_in, kasia, marek, anna):
    lead = late_in(TUESDAY_10, at(17, 10, 20), source="demo_request")
    assert lead.owner == kasia
    assert lead.system_delay_seconds == 20 * 60, "the delivery delay is system delay, not Kasia's"

    assert tick(at(17, 10, 21)) == 1
    (told,) = LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER)
    assert told.rep == kasia
    assert told.detail == "Arrived 20 business minutes late, already past its first-response deadline. Kasia Nowak is told to respond now."
    assert told.data["late_business_minutes"] == 20 and told.data["overdue"] is True
    messages = OutboxMessage.objects.filter(lead=lead, key__contains=f":e{told.pk}:")
    assert {m.recipient for m in messages} >= {kasia.email}
    assert all(m.subject.startswith("[CRITICAL] Arrived already overdue:") for m in messages)
    assert "20 business minutes after it was sent" in messages[0].body
    assert StepFiring.objects.get(lead=lead).before_arrival, "the missed 15-minute reminder, folded into that notice"

    # Two more sweeps at the same moment and just after: nothing fires twice.
    assert tick(at(17, 10, 21)) == 0
    assert tick(at(17, 10, 22)) == 0
    assert chain_events(lead) == [("reminder", "kasia")]

    # The chain goes on at its own times: reassign at 30, the team lead at 90.
    assert tick(at(17, 10, 30)) == 1
    assert tick(at(17, 11, 30)) == 1
    assert chain_events(lead) == [("reminder", "kasia"), ("reassigned", "marek"), ("escalated", "anna")]
    lead.refresh_from_db()
    assert lead.owner == marek and lead.sla_next_step_at is None and not lead.needs_attention


def test_a_backlog_lead_older_than_its_whole_chain_is_flagged_once_and_pages_nobody(late_in, kasia):
    """A CRM replays Tuesday's 10:00 demo request on Wednesday at 09:00: 420 business minutes late, past the
    90-minute alert."""
    lead = late_in(TUESDAY_10, at(18, 9), source="demo_request")
    before = sent_by_sweeps(lead)

    assert tick(at(18, 9, 1)) == 0, "nobody paged"
    lead.refresh_from_db()
    assert lead.needs_attention and lead.owner == kasia and lead.sla_next_step_at is None
    (flag,) = LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.ESCALATED)
    assert flag.rep is None
    assert flag.detail == (
        "Arrived 420 business minutes late, already past its first-response deadline. "
        "Its whole escalation chain had run out before it came in: flagged for the manager, nobody paged."
    )
    assert flag.data["whole_chain"] is True
    assert sent_by_sweeps(lead) == before
    assert StepFiring.objects.filter(lead=lead, before_arrival=True).count() == 3

    assert tick(at(18, 9, 1)) == 0
    assert tick(at(18, 12, 0)) == 0
    assert LeadEvent.objects.filter(lead=lead, type__in=["reminder", "reassigned", "escalated"]).count() == 1


def test_a_lead_that_arrives_after_hours_is_told_when_the_office_opens(late_in, kasia):
    """Submitted 15:30, delivered 20:00 (30 business minutes late: the reminder at 15:45 and the reassignment at
    16:00 were missed); the owner hears of it at 08:00 the next morning, the team lead at 09:00 (90 minutes)."""
    lead = late_in(at(17, 15, 30), at(17, 20, 0), source="demo_request")
    assert tick(at(17, 20, 1)) == 0, "no reminders at night"
    lead.refresh_from_db()
    assert lead.sla_next_step_at == at(18, 8, 0)

    assert tick(at(18, 8, 0)) == 1
    (told,) = LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER)
    assert told.detail.startswith("Arrived 30 business minutes late, already past its first-response deadline.")
    assert set(StepFiring.objects.filter(lead=lead).values_list("step__kind", flat=True)) == {"remind", "reassign"}
    assert tick(at(18, 8, 1)) == 0
    assert tick(at(18, 9, 0)) == 1
    assert chain_events(lead) == [("reminder", "kasia"), ("escalated", "anna")]


def test_a_late_lead_still_inside_its_deadline_is_told_when_it_is_due(late_in, marek):
    default = SlaPolicy.objects.get(name="Default")
    EscalationStep.objects.create(policy=default, after_minutes=60, kind=EscalationStep.Kind.REMIND)
    lead = late_in(TUESDAY_10, at(17, 11, 10), source="contact_form")  # 70 minutes late, due at 12:00
    assert lead.owner == marek  # no rule: the fallback pool, Juniors
    assert tick(at(17, 11, 11)) == 1
    (told,) = LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER)
    assert told.detail == "Arrived 70 business minutes late; its first response is due at 12:00. Marek Zieliński is told to respond now."
    assert told.data["overdue"] is False
    subjects = set(OutboxMessage.objects.filter(lead=lead, key__contains=f":e{told.pk}:").values_list("subject", flat=True))
    assert subjects and all(subject.startswith("Arrived late:") for subject in subjects)
    assert tick(at(17, 12, 0)) == 1  # the 120-minute reminder, at its own time
    assert LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER).count() == 2


def test_a_late_lead_without_an_owner_tells_the_team_leads(late_in, demo, anna):
    Rep.objects.exclude(pk=anna.pk).update(status=Rep.Status.AWAY)
    lead = late_in(TUESDAY_10, at(17, 10, 20), source="demo_request")
    assert lead.owner is None and lead.needs_attention

    assert tick(at(17, 10, 21)) == 1
    (told,) = LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER)
    assert told.rep is None
    assert told.detail.endswith("It has no owner: the team leads are told.")
    assert anna.email in set(OutboxMessage.objects.filter(lead=lead, key__contains=f":e{told.pk}:").values_list("recipient", flat=True))


def test_a_lead_on_time_is_not_late(take_in, kasia):
    lead = take_in(TUESDAY_10, source="demo_request")
    assert lead.system_delay_seconds == 0
    assert tick(at(17, 10, 15)) == 1
    (reminder,) = LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER)
    assert "late" not in reminder.data and not StepFiring.objects.filter(lead=lead, before_arrival=True).exists()


def test_a_lead_reassigned_out_of_unassigned_gets_its_system_delay(take_in, demo, marek):
    Rep.objects.update(status=Rep.Status.AWAY)
    lead = take_in(TUESDAY_10, source="demo_request")
    assert lead.owner is None and lead.system_delay_seconds is None
    Rep.objects.filter(pk=marek.pk).update(status=Rep.Status.AVAILABLE)
    tick(at(17, 10, 30))  # the reassignment step finds Marek
    lead.refresh_from_db()
    assert lead.owner == marek
    assert lead.system_delay_seconds == 30 * 60 and lead.assigned_at == at(17, 10, 30)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_tell_each_late_leads_owner_once(demo, website):
    from tests.test_sla_concurrency import in_threads

    source = website[0]
    arrived = at(17, 10, 20)
    with time_machine.travel(arrived, tick=False):
        leads = [
            lead_create(source=source, fields={"email": f"late{i}@fabryka{i}.example", "source": "demo_request", "submitted_at": TUESDAY_10}, now=arrived)[0]
            for i in range(10)
        ]
    fired = in_threads(2, lambda: sla_tick(now=at(17, 10, 21)))
    assert sum(fired) == len(leads)
    for lead in leads:
        assert LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REMINDER).count() == 1
        assert StepFiring.objects.filter(lead=lead).count() == 1
    assert in_threads(2, lambda: sla_tick(now=at(17, 10, 21))) == [0, 0]
