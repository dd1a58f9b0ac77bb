"""The SLA clock and escalation chain on the TechPol demo: Critical is 15 business minutes, then remind at 15,
reassign at 30, alert the team lead (Anna) at 90. Times are Europe/Warsaw; the office is Mon-Fri 08:00-16:00."""

import importlib
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from flows.services.leads import activity_log, lead_create
from flows.services.sweep import sla_tick
from flows.tasks import SCHEDULE_FUNC, SCHEDULE_NAME, sla_tick_task
from notifications.models import OutboxMessage
from reps.models import OnDutyOverride
from routing.models import Lead, LeadEvent
from routing.services.intake import intake_source_create
from sla.models import EscalationStep, SlaPolicy, StepFiring
from sla.selectors import lead_sla_state, lead_sla_terms, sla_state_q
from sla.services import lead_sla_stop

WARSAW = ZoneInfo("Europe/Warsaw")
ROOT = Path(__file__).resolve().parent.parent


def at(y, m, d, hh=0, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=WARSAW)


TUESDAY_10 = at(2026, 11, 17, 10, 0)
FRIDAY_EVENING = at(2026, 11, 20, 17, 30)


@pytest.fixture
def source(demo):
    return intake_source_create(name="Website form")[0]


@pytest.fixture
def take_in(source):
    """Take a lead in through intake (store, route, start the clock, rule actions) as of `when`."""

    def take(when: datetime, **fields) -> Lead:
        fields.setdefault("email", f"buyer{Lead.objects.count()}@fabryka.example")
        fields.setdefault("first_name", "Jan")
        fields.setdefault("submitted_at", when)
        with time_machine.travel(when, tick=False):
            lead, created = lead_create(source=source, fields=fields, now=when)
        assert created
        return lead

    return take


def tick(when: datetime) -> int:
    with time_machine.travel(when, tick=False):
        return sla_tick(now=when)


def events(lead: Lead, *types: str) -> list[LeadEvent]:
    return list(LeadEvent.objects.filter(lead=lead, type__in=types).order_by("at", "id"))


def state(lead: Lead) -> dict:
    """Everything a sweep may change, to compare before and after."""
    lead.refresh_from_db()
    return {
        "owner": lead.owner_id,
        "status": lead.status,
        "next": lead.sla_next_step_at,
        "needs_attention": lead.needs_attention,
        "events": list(LeadEvent.objects.filter(lead=lead).values_list("id", "type", "rep_id")),
        "firings": list(StepFiring.objects.filter(lead=lead).values_list("id", "step_id")),
        "outbox": list(OutboxMessage.objects.filter(lead=lead).values_list("id", "key")),
    }


# ---------------------------------------------------------------------------------------------- the clock starts


def test_demo_request_on_a_working_tuesday_is_critical_and_due_at_1015(take_in, kasia):
    lead = take_in(TUESDAY_10, source="demo_request")
    assert lead.owner == kasia
    assert lead.priority == "critical"
    assert lead.sla_policy.name == "Critical"
    assert lead.sla_due_at == at(2026, 11, 17, 10, 15)
    assert lead.sla_next_step_at == at(2026, 11, 17, 10, 15)
    assert not OutboxMessage.objects.filter(lead=lead, key__contains="sla.after_hours").exists(), "in office hours nobody is told to wait"


def test_failure_message_is_critical_too(take_in):
    lead = take_in(TUESDAY_10, source="contact_form", message="Mamy AWARIĘ linii, awaria pilna")
    assert (lead.priority, lead.sla_due_at) == ("critical", at(2026, 11, 17, 10, 15))


def test_report_download_with_phone_is_medium_with_120_business_minutes(take_in):
    lead = take_in(at(2026, 11, 17, 15, 0), source="report_download", phone="+48 600 100 200")
    assert lead.priority == "medium"
    assert lead.sla_due_at == at(2026, 11, 18, 9, 0)
    assert lead.sla_next_step_at == at(2026, 11, 18, 9, 0)


def test_any_other_assigned_lead_gets_the_default_120_minutes_as_medium(take_in):
    lead = take_in(TUESDAY_10, source="contact_form")
    assert lead.sla_policy.name == "Default"
    assert lead.priority == "medium"
    assert lead.sla_due_at == at(2026, 11, 17, 12, 0)


def test_newsletter_lead_without_phone_is_low_with_no_clock_and_a_thank_you(take_in):
    lead = take_in(TUESDAY_10, source="newsletter", language="en")
    assert lead.priority == "low"
    assert lead.sla_due_at is None and lead.sla_next_step_at is None
    (message,) = OutboxMessage.objects.filter(lead=lead, recipient=lead.email)
    assert message.subject == "Thank you for signing up"
    assert tick(TUESDAY_10 + timedelta(days=3)) == 0


def test_disqualified_lead_has_no_clock(take_in):
    lead = take_in(TUESDAY_10, source="demo_request", job_title="Student informatyki")
    assert lead.status == Lead.Status.DISQUALIFIED
    assert (lead.priority, lead.sla_policy, lead.sla_due_at, lead.sla_next_step_at) == (None, None, None, None)
    assert tick(TUESDAY_10 + timedelta(hours=2)) == 0
    assert not StepFiring.objects.filter(lead=lead).exists()


def test_preview_terms_are_computed_for_an_unsaved_lead_without_writing(demo, source):
    lead = Lead(intake_source=source, email="kto@firma.example", email_domain="firma.example", source="demo_request", submitted_at=FRIDAY_EVENING)
    terms = lead_sla_terms(lead=lead, now=FRIDAY_EVENING)
    assert terms.policy.name == "Critical"
    assert (terms.priority, terms.due_at, terms.next_step_at) == ("critical", at(2026, 11, 23, 8, 15), at(2026, 11, 23, 8, 15))
    assert terms.autoresponse.template == "after_hours"
    assert lead.pk is None
    assert not Lead.objects.exists() and not OutboxMessage.objects.exists()


# ---------------------------------------------------------------------------------------------- the demo chain


def test_demo_chain_reminds_at_1015_moves_to_another_demo_rep_at_1030_and_alerts_anna_at_1130(take_in, kasia, anna):
    lead = take_in(TUESDAY_10, source="demo_request")
    assert lead.owner == kasia

    assert tick(at(2026, 11, 17, 10, 14, 59)) == 0
    assert tick(at(2026, 11, 17, 10, 15)) == 1
    (reminder,) = events(lead, LeadEvent.Type.REMINDER)
    assert (reminder.rep, reminder.at) == (kasia, at(2026, 11, 17, 10, 15))
    assert OutboxMessage.objects.filter(lead=lead, recipient=kasia.email, subject__contains="Reminder").exists()
    lead.refresh_from_db()
    assert lead.sla_next_step_at == at(2026, 11, 17, 10, 30)

    assert tick(at(2026, 11, 17, 10, 29)) == 0
    assert tick(at(2026, 11, 17, 10, 30)) == 1
    lead.refresh_from_db()
    demo_pool = {m.rep_id for m in lead.pool.memberships.all()}
    assert lead.pool.name == "Demo"
    assert lead.owner != kasia and lead.owner_id in demo_pool
    assert lead.owner.user.username == "marek"  # next in the Demo rotation after kasia
    (moved,) = events(lead, LeadEvent.Type.REASSIGNED)
    assert moved.rep == lead.owner and moved.data["from_rep_id"] == kasia.pk
    assert OutboxMessage.objects.filter(lead=lead, recipient=lead.owner.email).exists()
    assert lead.sla_next_step_at == at(2026, 11, 17, 11, 30)

    assert tick(at(2026, 11, 17, 11, 29)) == 0
    assert tick(at(2026, 11, 17, 11, 30)) == 1
    (alert,) = events(lead, LeadEvent.Type.ESCALATED)
    assert alert.rep == anna
    assert OutboxMessage.objects.filter(lead=lead, recipient=anna.email).exists()
    lead.refresh_from_db()
    assert lead.sla_next_step_at is None, "the chain is over"
    assert StepFiring.objects.filter(lead=lead).count() == 3
    assert tick(at(2026, 11, 18, 12, 0)) == 0


def test_a_late_sweep_fires_every_overdue_step_once_in_order(take_in, anna):
    lead = take_in(TUESDAY_10, source="demo_request")
    assert tick(at(2026, 11, 17, 12, 0)) == 3
    assert [e.type for e in events(lead, "reminder", "reassigned", "escalated")] == ["reminder", "reassigned", "escalated"]
    assert tick(at(2026, 11, 17, 12, 0)) == 0


def test_first_response_at_minute_10_stops_the_chain(take_in, kasia):
    lead = take_in(TUESDAY_10, source="demo_request")
    with time_machine.travel(at(2026, 11, 17, 10, 10), tick=False):
        activity_log(lead=lead, kind="call", at=at(2026, 11, 17, 10, 10), outcome="Umówione demo")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED
    assert lead.sla_next_step_at is None
    assert (lead.rep_delay_seconds, lead.rep_delay_business_minutes) == (600, 10)
    for when in (at(2026, 11, 17, 10, 15), at(2026, 11, 17, 10, 30), at(2026, 11, 17, 11, 30)):
        assert tick(when) == 0
    assert not events(lead, LeadEvent.Type.REMINDER, LeadEvent.Type.REASSIGNED, LeadEvent.Type.ESCALATED)
    assert lead_sla_state(lead=lead, now=at(2026, 11, 17, 12, 0)) == "met"


def test_a_note_does_not_stop_the_clock(take_in, kasia):
    lead = take_in(TUESDAY_10, source="demo_request")
    with time_machine.travel(at(2026, 11, 17, 10, 10), tick=False):
        activity_log(lead=lead, kind="note", at=at(2026, 11, 17, 10, 10), outcome="Sprawdzić CRM")
    lead.refresh_from_db()
    assert lead.first_response_at is None and lead.sla_next_step_at == at(2026, 11, 17, 10, 15)
    assert tick(at(2026, 11, 17, 10, 15)) == 1
    assert events(lead, LeadEvent.Type.REMINDER)[0].rep == kasia


def test_first_response_after_a_reassignment_still_counts_rep_delay_from_the_first_assignment(take_in):
    lead = take_in(TUESDAY_10, source="demo_request")
    tick(at(2026, 11, 17, 10, 30))
    lead.refresh_from_db()
    with time_machine.travel(at(2026, 11, 17, 10, 40), tick=False):
        activity_log(lead=lead, kind="email", at=at(2026, 11, 17, 10, 40))
    lead.refresh_from_db()
    assert (lead.rep_delay_seconds, lead.rep_delay_business_minutes) == (2400, 40)
    assert tick(at(2026, 11, 17, 11, 30)) == 0
    assert lead_sla_state(lead=lead, now=at(2026, 11, 17, 12, 0)) == "breached"


def test_a_repeated_sweep_for_the_same_moment_changes_nothing(take_in):
    lead = take_in(TUESDAY_10, source="demo_request")
    assert tick(at(2026, 11, 17, 10, 30)) == 2
    before = state(lead)
    assert tick(at(2026, 11, 17, 10, 30)) == 0
    assert state(lead) == before
    call_command("sla_tick", "--now", "2026-11-17T10:30:00+01:00", stdout=open("/dev/null", "w"))
    assert state(lead) == before


def test_a_step_already_recorded_as_fired_is_not_fired_again(take_in):
    """The unique (lead, step) row is the claim: even if the pointer says due, a fired step stays fired."""
    lead = take_in(TUESDAY_10, source="demo_request")
    assert tick(at(2026, 11, 17, 10, 15)) == 1
    Lead.objects.filter(pk=lead.pk).update(sla_next_step_at=at(2026, 11, 17, 10, 15))  # e.g. a stale copy re-armed it
    before = len(events(lead, LeadEvent.Type.REMINDER))
    assert tick(at(2026, 11, 17, 10, 20)) == 0
    assert len(events(lead, LeadEvent.Type.REMINDER)) == before == 1
    lead.refresh_from_db()
    assert lead.sla_next_step_at == at(2026, 11, 17, 10, 30)


# ---------------------------------------------------------------------------------------------- business time


def test_friday_evening_demo_request_waits_for_monday(take_in, kasia):
    lead = take_in(FRIDAY_EVENING, source="demo_request")
    assert lead.sla_due_at == at(2026, 11, 23, 8, 15)
    for when in (at(2026, 11, 20, 18, 0), at(2026, 11, 21, 10, 0), at(2026, 11, 22, 23, 59), at(2026, 11, 23, 8, 14)):
        assert tick(when) == 0, when
    assert not events(lead, LeadEvent.Type.REMINDER)
    assert tick(at(2026, 11, 23, 8, 15)) == 1
    assert events(lead, LeadEvent.Type.REMINDER)[0].at == at(2026, 11, 23, 8, 15)
    assert tick(at(2026, 11, 23, 8, 30)) == 1
    assert tick(at(2026, 11, 23, 9, 30)) == 1


def test_public_holiday_pauses_the_clock(take_in):
    lead = take_in(at(2026, 11, 10, 15, 50), source="demo_request")  # Tuesday; Wednesday 11 November is a holiday
    assert lead.sla_due_at == at(2026, 11, 12, 8, 5)
    assert tick(at(2026, 11, 11, 12, 0)) == 0
    assert tick(at(2026, 11, 12, 8, 5)) == 1


def test_dst_weekend_keeps_business_minutes_exact(take_in):
    lead = take_in(at(2026, 10, 23, 15, 50), source="demo_request")  # Friday; clocks go back on Sunday 25 October
    assert lead.sla_due_at == at(2026, 10, 26, 8, 5)
    assert lead.sla_due_at.utcoffset() == timedelta(hours=1)
    assert tick(at(2026, 10, 26, 8, 4)) == 0
    assert tick(at(2026, 10, 26, 8, 5)) == 1


def test_step_due_at_closing_time_fires_in_the_sweep_right_after_it(take_in):
    lead = take_in(at(2026, 11, 20, 15, 45), source="demo_request")  # Friday; 15 minutes run out at 16:00
    assert lead.sla_due_at == at(2026, 11, 20, 16, 0)
    assert tick(at(2026, 11, 20, 16, 0, 40)) == 1
    lead.refresh_from_db()
    assert lead.sla_next_step_at == at(2026, 11, 23, 8, 15)


def test_no_reminder_while_the_office_is_closed_even_when_the_sweep_was_down(take_in):
    """The cluster was down from Friday 15:59 to Saturday: the overdue reminder waits for Monday's opening."""
    lead = take_in(at(2026, 11, 20, 15, 45), source="demo_request")
    assert tick(at(2026, 11, 21, 10, 0)) == 0
    assert not events(lead, LeadEvent.Type.REMINDER)
    lead.refresh_from_db()
    assert lead.sla_next_step_at == at(2026, 11, 23, 8, 0), "parked until the opening, not re-read every minute"
    assert tick(at(2026, 11, 22, 12, 0)) == 0
    assert tick(at(2026, 11, 23, 8, 0)) == 1
    assert events(lead, LeadEvent.Type.REMINDER)[0].at == at(2026, 11, 23, 8, 0)


# ---------------------------------------------------------------------------------------------- after hours


def test_after_hours_autoresponse_tells_a_polish_lead_monday_0800(take_in):
    lead = take_in(FRIDAY_EVENING, source="demo_request", language="pl")
    (message,) = OutboxMessage.objects.filter(lead=lead, recipient=lead.email, key__contains="sla.after_hours")
    assert "poniedziałek 08:00" in message.body
    assert events(lead, LeadEvent.Type.AUTORESPONSE)


def test_after_hours_autoresponse_tells_an_english_lead_monday_0800(take_in):
    lead = take_in(at(2026, 11, 21, 9, 0), source="contact_form", language="en")  # a Saturday
    (message,) = OutboxMessage.objects.filter(lead=lead, recipient=lead.email, key__contains="sla.after_hours")
    assert "Monday 08:00" in message.body


def test_after_hours_before_a_holiday_names_the_day_after_it(take_in):
    lead = take_in(at(2026, 11, 10, 17, 0), source="contact_form", language="en")
    message = OutboxMessage.objects.get(lead=lead, key__contains="sla.after_hours")
    assert "Thursday 08:00" in message.body


def test_lead_in_office_hours_gets_no_after_hours_message(take_in):
    lead = take_in(TUESDAY_10, source="contact_form")
    assert not OutboxMessage.objects.filter(lead=lead, key__contains="sla.after_hours").exists()


def test_starting_the_clock_again_does_not_send_the_autoresponse_twice(take_in):
    from sla.services import lead_sla_start

    lead = take_in(FRIDAY_EVENING, source="demo_request")
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        lead_sla_start(lead=lead, now=FRIDAY_EVENING)
    assert OutboxMessage.objects.filter(lead=lead, key__contains="sla.after_hours").count() == 1


# ---------------------------------------------------------------------------------------------- reassignment


def test_reassign_without_a_pool_goes_to_the_on_duty_rep(take_in, kasia, marek):
    lead = take_in(TUESDAY_10, source="demo_request", industry="E-commerce")  # rule 9: straight to kasia, no pool
    assert (lead.owner, lead.pool) == (kasia, None)
    tick(at(2026, 11, 17, 10, 30))
    lead.refresh_from_db()
    assert lead.owner == marek, "marek is on duty on Tuesdays"


def test_reassign_to_the_on_duty_override_of_the_day(take_in, kasia, tomek):
    OnDutyOverride.objects.create(date=at(2026, 11, 17).date(), rep=tomek)
    lead = take_in(TUESDAY_10, source="demo_request", industry="E-commerce")
    tick(at(2026, 11, 17, 10, 30))
    lead.refresh_from_db()
    assert lead.owner == tomek


def test_reassign_to_the_rep_the_step_names(take_in, jan):
    EscalationStep.objects.filter(policy__name="Critical", kind=EscalationStep.Kind.REASSIGN).update(target_rep=jan)
    lead = take_in(TUESDAY_10, source="demo_request")
    tick(at(2026, 11, 17, 10, 30))
    lead.refresh_from_db()
    assert lead.owner == jan


def test_nobody_to_reassign_to_flags_the_lead_and_tells_the_team_lead(take_in, kasia, anna):
    # Monday: kasia is on duty herself, and the e-commerce lead has no pool to draw from.
    lead = take_in(at(2026, 11, 16, 10, 0), source="demo_request", industry="E-commerce")
    assert tick(at(2026, 11, 16, 10, 30)) == 2
    lead.refresh_from_db()
    assert lead.owner == kasia and lead.needs_attention
    assert "nobody to reassign" in events(lead, LeadEvent.Type.ESCALATED)[0].detail
    assert OutboxMessage.objects.filter(lead=lead, recipient=anna.email).exists()
    lead.refresh_from_db()
    assert lead.sla_next_step_at == at(2026, 11, 16, 11, 30), "the chain goes on"


def test_sweep_goes_on_past_a_lead_whose_steps_fail(take_in, monkeypatch):
    first = take_in(TUESDAY_10, source="demo_request")
    second = take_in(TUESDAY_10, source="demo_request")
    import flows.services.sweep as sweep

    real = sweep.escalation_notify

    def broken_for_first(*, lead, **kwargs):
        if lead.pk == first.pk:
            raise RuntimeError("channel down")
        return real(lead=lead, **kwargs)

    monkeypatch.setattr(sweep, "escalation_notify", broken_for_first)
    assert tick(at(2026, 11, 17, 10, 15)) == 1
    assert not StepFiring.objects.filter(lead=first).exists(), "rolled back: the next sweep tries again"
    assert StepFiring.objects.filter(lead=second).count() == 1
    monkeypatch.setattr(sweep, "escalation_notify", real)
    assert tick(at(2026, 11, 17, 10, 16)) == 1
    assert StepFiring.objects.filter(lead=first).count() == 1


def test_policy_switched_to_no_clock_stops_a_running_chain(take_in):
    lead = take_in(TUESDAY_10, source="demo_request")
    SlaPolicy.objects.filter(name="Critical").update(response_minutes=None)
    assert tick(at(2026, 11, 17, 10, 15)) == 0
    lead.refresh_from_db()
    assert lead.sla_next_step_at is None


# ---------------------------------------------------------------------------------------------- stop, state, admin


def test_rep_delay_in_business_minutes_skips_the_weekend(take_in):
    lead = take_in(at(2026, 11, 20, 15, 50), source="demo_request")
    lead_sla_stop(lead=lead, at=at(2026, 11, 23, 8, 10))
    lead.refresh_from_db()
    assert lead.rep_delay_business_minutes == 20
    assert lead.rep_delay_seconds == int((at(2026, 11, 23, 8, 10) - at(2026, 11, 20, 15, 50)).total_seconds())


def test_breached_and_due_soon_states_and_filters(take_in):
    late = take_in(at(2026, 11, 17, 9, 0), source="demo_request")
    soon = take_in(at(2026, 11, 17, 9, 50), source="demo_request")
    later = take_in(at(2026, 11, 17, 9, 50), source="contact_form")
    now = at(2026, 11, 17, 10, 0)
    assert [lead_sla_state(lead=x, now=now) for x in (late, soon, later)] == ["breached", "due_soon", "running"]
    assert set(Lead.objects.filter(sla_state_q("breached", now=now))) == {late}
    assert set(Lead.objects.filter(sla_state_q("due_soon", now=now))) == {soon}


def test_lead_admin_filters_breached_leads(take_in, admin_client):
    late = take_in(at(2026, 11, 17, 9, 0), source="demo_request")
    fresh = take_in(at(2026, 11, 17, 9, 55), source="demo_request")
    with time_machine.travel(at(2026, 11, 17, 10, 0), tick=False):
        page = admin_client.get("/admin/routing/lead/", {"sla": "breached"})
    assert page.status_code == 200
    shown = {lead.pk for lead in page.context["cl"].result_list}
    assert late.pk in shown and fresh.pk not in shown


@pytest.mark.parametrize(
    "url",
    ["/admin/sla/slapolicy/", "/admin/sla/businesscalendar/", "/admin/sla/stepfiring/", "/admin/reps/ondutyrota/", "/admin/reps/ondutyoverride/"],
)
def test_sla_admin_pages_open(demo, admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_policy_and_calendar_change_pages_open(demo, admin_client):
    policy = SlaPolicy.objects.get(name="Critical")
    assert admin_client.get(f"/admin/sla/slapolicy/{policy.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/sla/businesscalendar/{policy.calendar_id}/change/").status_code == 200


# ---------------------------------------------------------------------------------------------- command, task, schedule


def test_sla_tick_command_sweeps_as_of_now_given(take_in, capsys):
    lead = take_in(TUESDAY_10, source="demo_request")
    call_command("sla_tick", "--now", "2026-11-17T09:15:00Z")
    assert "1 step(s) fired" in capsys.readouterr().out
    assert events(lead, LeadEvent.Type.REMINDER)


@pytest.mark.parametrize("value", ["yesterday", "2026-11-17 10:15", "2026-13-01T10:00:00+01:00"])
def test_sla_tick_command_refuses_a_bad_now(db, value):
    with pytest.raises(CommandError, match="--now"):
        call_command("sla_tick", "--now", value)


def test_sla_tick_command_exits_non_zero_without_a_traceback_on_a_bad_now():
    done = subprocess.run(
        [sys.executable, "manage.py", "sla_tick", "--now", "next tuesday"],
        cwd=ROOT,
        env={"DEBUG": "1", "PATH": "/usr/bin:/bin", "DATABASE_URL": "sqlite:///:memory:"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--now" in done.stderr and "Traceback" not in done.stderr


def test_the_task_the_schedule_runs_is_the_sweep(take_in):
    lead = take_in(TUESDAY_10, source="demo_request")
    with time_machine.travel(at(2026, 11, 17, 10, 15), tick=False):
        assert sla_tick_task() == 1
    assert events(lead, LeadEvent.Type.REMINDER)


def test_every_minute_schedule_exists_once_and_stays_single_after_migrating_again(db):
    # The migration made it; a transactional test elsewhere may have flushed it, so ensure it here too.
    migration = importlib.import_module("flows.migrations.0001_sla_tick_schedule")
    migration.schedule_ensure(django_apps, None)
    migration.schedule_ensure(django_apps, None)
    (schedule,) = Schedule.objects.filter(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (SCHEDULE_FUNC, Schedule.MINUTES, 1, -1)

    Schedule.objects.create(name=SCHEDULE_NAME, func=SCHEDULE_FUNC, schedule_type=Schedule.HOURLY)  # a stray copy
    Schedule.objects.filter(pk=schedule.pk).update(minutes=5)  # and an edited original
    migration.schedule_ensure(django_apps, None)
    (again,) = Schedule.objects.filter(name=SCHEDULE_NAME)
    assert again.pk == schedule.pk
    assert (again.schedule_type, again.minutes) == (Schedule.MINUTES, 1)


def test_migrating_a_fresh_database_again_and_again_leaves_one_schedule(tmp_path):
    env = {"DEBUG": "1", "PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}"}

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    count = ["shell", "-c", f"from django_q.models import Schedule; print(Schedule.objects.filter(func={SCHEDULE_FUNC!r}).count())"]
    manage("migrate", "--noinput")
    assert manage(*count).split()[-1] == "1"
    manage("migrate", "--noinput")  # the next deploy
    manage("migrate", "sla", "0001", "--noinput")  # rolled back and forward again
    manage("migrate", "--noinput")
    assert manage(*count).split()[-1] == "1"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("pl", "poniedziałek 4 stycznia, 08:00"), ("en", "Monday 4 January, 08:00")],
)
def test_an_opening_a_week_or_more_away_is_named_with_its_date(language, expected):
    from sla.selectors import opening_label

    assert opening_label(opens_at=at(2027, 1, 4, 8, 0), now=at(2026, 12, 24, 10, 0), language=language) == expected


def test_a_calendar_without_opening_hours_costs_the_lead_nothing_but_its_deadline(take_in, caplog):
    from sla.models import OpeningHours

    OpeningHours.objects.all().delete()  # a manager's mistake: the office never opens
    lead = take_in(TUESDAY_10, source="demo_request")
    assert lead.owner is not None and lead.priority == "critical"
    assert (lead.sla_due_at, lead.sla_next_step_at) == (None, None)
    assert "cannot be used" in caplog.text
    lead_sla_stop(lead=lead, at=at(2026, 11, 17, 10, 10))
    lead.refresh_from_db()
    # Measuring still works: no business time passes in a calendar that never opens.
    assert (lead.rep_delay_seconds, lead.rep_delay_business_minutes) == (600, 0)


# ---------------------------------------------------------------------------------------------- end to end


def test_done_when_through_the_api_and_the_command(demo, api, kasia, anna):
    """The issue's promise: a demo request sent at 10:00 on a working Tuesday is due at 10:15, reminds at 10:15,
    moves to another Demo rep at 10:30 and alerts Anna at 11:30; the same lead sent on Friday evening waits for Monday."""
    import json

    def post(when: datetime, email: str) -> dict:
        body = {"email": email, "source": "demo_request", "submitted_at": when.isoformat(), "language": "en"}
        with time_machine.travel(when, tick=False):
            response = api.post("/api/v1/leads/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()

    def sweep(when: datetime) -> None:
        with time_machine.travel(when, tick=False):
            call_command("sla_tick", "--now", when.isoformat(), stdout=open("/dev/null", "w"))

    def shown(lead_id: int) -> dict:
        return api.get(f"/api/v1/leads/{lead_id}/").json()

    tuesday = post(TUESDAY_10, "szef@fabryka.example")
    assert (tuesday["priority"], tuesday["owner"]["email"]) == ("critical", kasia.email)
    assert datetime.fromisoformat(tuesday["sla_due_at"]) == at(2026, 11, 17, 10, 15)

    for when in (at(2026, 11, 17, 10, 15), at(2026, 11, 17, 10, 30), at(2026, 11, 17, 11, 30)):
        sweep(when)
    lead = shown(tuesday["id"])
    chain = [(e["type"], datetime.fromisoformat(e["at"]), e["rep"]) for e in lead["events"] if e["type"] in ("reminder", "reassigned", "escalated")]
    new_owner = lead["owner"]["email"]
    assert new_owner != kasia.email and new_owner in {"marek@techpol.example", "ola@techpol.example"}
    assert chain == [
        ("reminder", at(2026, 11, 17, 10, 15), kasia.email),
        ("reassigned", at(2026, 11, 17, 10, 30), new_owner),
        ("escalated", at(2026, 11, 17, 11, 30), anna.email),
    ]

    friday = post(FRIDAY_EVENING, "szef@huta-nowa.example")
    assert datetime.fromisoformat(friday["sla_due_at"]) == at(2026, 11, 23, 8, 15)
    sweep(at(2026, 11, 21, 12, 0))
    sweep(at(2026, 11, 23, 8, 14))
    assert not [e for e in shown(friday["id"])["events"] if e["type"] == "reminder"]
    sweep(at(2026, 11, 23, 8, 15))
    assert [e["type"] for e in shown(friday["id"])["events"]].count("reminder") == 1


def test_sweep_refuses_a_naive_now(db):
    with pytest.raises(ValueError, match="aware"):
        sla_tick(now=datetime(2026, 11, 17, 10, 15))


def test_admin_refuses_steps_and_days_that_cannot_work(demo):
    from sla.admin import BusinessCalendarForm, CalendarDayForm, EscalationStepForm, PolicyConditionForm

    step = EscalationStepForm(data={"after_minutes": 30, "kind": "notify_channel"})
    assert not step.is_valid() and "channel" in step.errors
    step = EscalationStepForm(data={"after_minutes": 30, "kind": "remind", "target_rep": demo["jan"].pk})
    assert not step.is_valid() and "target_rep" in step.errors
    day = CalendarDayForm(data={"date": "2026-12-31", "kind": "open", "opens": "09:00"})
    assert not day.is_valid()
    day = CalendarDayForm(data={"date": "2026-12-31", "kind": "closed", "opens": "09:00", "closes": "12:00"})
    assert not day.is_valid()
    assert CalendarDayForm(data={"date": "2026-12-31", "kind": "open", "opens": "09:00", "closes": "12:00"}).is_valid()
    calendar = BusinessCalendarForm(data={"name": "Berlin", "time_zone": "Europe/Berlinn", "holidays_country": "XX"})
    assert not calendar.is_valid() and {"time_zone", "holidays_country"} <= set(calendar.errors)
    condition = PolicyConditionForm(data={"field": "company_size", "operator": "gt", "value": "dużo"})
    assert not condition.is_valid()


def test_a_lead_that_arrives_late_does_not_fire_the_steps_it_missed_all_at_once(source):
    """A CRM replays Tuesday's 10:00 demo request on Wednesday at 09:00: nobody could have acted on it, so the
    reminder, the reassignment and the alert it "missed" are not fired; it is already breached, the manager is
    flagged once (tests/test_late_leads.py), and nothing is spammed."""
    wednesday_9 = at(2026, 11, 18, 9, 0)
    with time_machine.travel(wednesday_9, tick=False):
        lead, _ = lead_create(source=source, fields={"email": "replay@fabryka.example", "source": "demo_request", "submitted_at": TUESDAY_10}, now=wednesday_9)
    assert lead.sla_due_at == at(2026, 11, 17, 10, 15)
    assert lead_sla_state(lead=lead, now=wednesday_9) == "breached"
    assert tick(at(2026, 11, 18, 9, 1)) == 0
    assert not LeadEvent.objects.filter(lead=lead, type__in=["reminder", "reassigned"]).exists()
    (flag,) = LeadEvent.objects.filter(lead=lead, type="escalated")
    assert flag.rep is None and "flagged for the manager, nobody paged" in flag.detail


def test_a_lead_delayed_in_delivery_still_gets_the_steps_due_after_it_arrived(source):
    """Submitted 10:00, delivered 10:20 (a retried webhook): the missed 15-minute reminder becomes one "arrived
    late" notice to the owner at the first sweep; the 30-minute reassignment and the 90-minute alert still come."""
    arrived = at(2026, 11, 17, 10, 20)
    with time_machine.travel(arrived, tick=False):
        lead, _ = lead_create(source=source, fields={"email": "late@fabryka.example", "source": "demo_request", "submitted_at": TUESDAY_10}, now=arrived)
    tick(at(2026, 11, 17, 11, 31))
    assert list(LeadEvent.objects.filter(lead=lead, type__in=["reminder", "reassigned", "escalated"]).values_list("type", flat=True)) == [
        "reminder",
        "reassigned",
        "escalated",
    ]
