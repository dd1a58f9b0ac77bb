"""Writes of the SLA app: start and stop a lead's clock, and the sweep that fires escalation steps.

The clock counts business minutes (sla.calendar) from `submitted_at`. Each escalation step is due `after_minutes`
business minutes after submission; `Lead.sla_next_step_at` holds the next due moment and is indexed (partial
index `lead_sla_next_step`), so a sweep reads only leads with something due. A step fires at most once per
lead: the `StepFiring` row is inserted first and its unique constraint on (lead, step) turns a second attempt,
from a repeated sweep or a second worker, into a no-op.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from core.logcontext import lead_log_context
from notifications.services import escalation_notify, lead_autorespond
from reps.models import Rep
from reps.selectors import on_duty_rep, rep_is_available
from reps.services import pool_pick_rep
from routing.models import Lead, LeadEvent
from sla import calendar as business_time
from sla.models import BusinessCalendar, EscalationStep, SlaPolicy, StepFiring
from sla.selectors import calendar_build, calendar_for, lead_sla_terms

logger = logging.getLogger(__name__)

# A step due at closing time (16:00) still fires in the sweep right after it. A step found overdue later while
# the office is closed (the cluster was down over the weekend) waits for the next opening: no reminders at night.
CLOSING_GRACE = timedelta(minutes=5)

Kind = EscalationStep.Kind
_SLA_FIELDS = ["priority", "sla_policy", "sla_due_at", "sla_next_step_at"]


# ---------------------------------------------------------------------------------------------- start / stop


@transaction.atomic
def lead_sla_start(*, lead: Lead, now: datetime) -> None:
    """Start a routed lead's clock: priority, policy, deadline, first step; tell an after-hours lead when we call.

    Safe to call again (re-routing): the fields are recomputed and the autoresponse is not sent twice (the
    outbox key is per lead and template).
    """
    terms = lead_sla_terms(lead=lead, now=now)
    if terms is None:
        lead.priority = lead.sla_policy = lead.sla_due_at = lead.sla_next_step_at = None
    else:
        lead.priority, lead.sla_policy = terms.priority, terms.policy
        lead.sla_due_at, lead.sla_next_step_at = terms.due_at, terms.next_step_at
    lead.save(update_fields=_SLA_FIELDS)
    if terms is None or terms.autoresponse is None or not lead.email:
        return
    reply = terms.autoresponse
    try:
        with transaction.atomic():
            lead_autorespond(lead=lead, template=reply.template, context=reply.context, event_key=reply.event_key)
    except Exception:
        # A message to the lead must never cost the lead itself (intake answers 201 and the clock runs).
        logger.exception("autoresponse %r for lead %s failed", reply.template, lead.pk)


def _calendar_of(lead: Lead) -> business_time.Calendar | None:
    """The lead's policy calendar; for a lead without one (never had a clock) the first business calendar."""
    policy = SlaPolicy.objects.select_related("calendar").filter(pk=lead.sla_policy_id).first() if lead.sla_policy_id else None
    calendar = policy.calendar if policy is not None else BusinessCalendar.objects.order_by("id").first()
    if calendar is None:
        return None
    try:
        return calendar_build(calendar)
    except ValueError as exc:
        logger.error("SLA calendar %r cannot be used: %s", calendar.name, exc)
        return None


@transaction.atomic
def lead_sla_stop(*, lead: Lead, at: datetime) -> None:
    """The first response: no more steps; store the rep's delay (assigned -> first response), wall clock and business.

    Only the first response counts: a second call clears the next step and keeps the stored delay.
    """
    fields: dict = {"sla_next_step_at": None}
    if lead.rep_delay_seconds is None:
        start = lead.assigned_at or lead.submitted_at
        fields["rep_delay_seconds"] = max(0, round((at - start).total_seconds()))
        cal = _calendar_of(lead)
        if cal is not None:
            fields["rep_delay_business_minutes"] = max(0, round(business_time.business_minutes_between(cal, start, at)))
    # update(), not save(): a sweep may hold the row; this waits for it and then wins, never re-arming the clock.
    Lead.objects.filter(pk=lead.pk).update(**fields)
    for name, value in fields.items():
        setattr(lead, name, value)


# ---------------------------------------------------------------------------------------------- the sweep


def sla_tick(*, now: datetime) -> int:
    """One sweep as of `now`: fire every escalation step that is due; returns how many fired.

    Each lead is handled in its own transaction with its row locked (`SKIP LOCKED` on PostgreSQL: a lead being
    handled by another sweep is left to it), so one broken lead does not hold up the others. Running the sweep
    twice for the same moment changes nothing the second time.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("sla_tick needs an aware `now` (with a UTC offset)")
    due_ids = list(Lead.objects.filter(sla_next_step_at__lte=now).order_by("sla_next_step_at", "id").values_list("id", flat=True))
    policies: dict[int, tuple[SlaPolicy, business_time.Calendar]] = {}
    fired = 0
    for lead_id in due_ids:
        with lead_log_context(lead_id):
            try:
                fired += _lead_steps_fire(lead_id=lead_id, now=now, policies=policies)
            except Exception:
                # Left due: the next sweep tries again, and the failure stays visible in the log.
                logger.exception("SLA sweep: lead %s failed", lead_id)
    if fired:
        logger.info("SLA sweep at %s: %d step(s) fired", now.isoformat(), fired)
    return fired


def _policy_with_calendar(policy_id: int, policies: dict[int, tuple[SlaPolicy, business_time.Calendar]]) -> tuple[SlaPolicy, business_time.Calendar] | None:
    found = policies.get(policy_id)
    if found is None:
        policy = (
            SlaPolicy.objects.select_related("calendar")
            .prefetch_related(
                Prefetch("steps", queryset=EscalationStep.objects.select_related("target_rep", "channel").order_by("after_minutes", "id")),
                "calendar__opening_hours",
                "calendar__days",
            )
            .filter(pk=policy_id)
            .first()
        )
        if policy is None:
            return None
        found = policies[policy_id] = (policy, calendar_for(policy))
    return found


@transaction.atomic
def _lead_steps_fire(*, lead_id: int, now: datetime, policies: dict) -> int:
    leads = Lead.objects.filter(pk=lead_id, sla_next_step_at__lte=now)
    if connection.features.has_select_for_update_skip_locked:
        # The condition is checked again once the row is locked: a lead another sweep just handled is skipped.
        leads = leads.select_for_update(skip_locked=True, of=("self",))
    lead = leads.select_related("owner", "pool").first()
    if lead is None:
        return 0

    found = _policy_with_calendar(lead.sla_policy_id, policies) if lead.sla_policy_id else None
    clock_stopped = lead.first_response_at is not None or lead.status in (Lead.Status.DISQUALIFIED, Lead.Status.CONTACTED)
    if found is None or clock_stopped or found[0].response_minutes is None:
        lead.sla_next_step_at = None
        lead.save(update_fields=["sla_next_step_at"])
        return 0
    policy, cal = found

    already = set(StepFiring.objects.filter(lead=lead).values_list("step_id", flat=True))
    open_now = business_time.is_open(cal, now)
    next_at = None
    fired = 0
    changed: set[str] = {"sla_next_step_at"}
    for step in policy.steps.all():
        if step.pk in already:
            continue
        due = business_time.add_business_minutes(cal, lead.submitted_at, step.after_minutes)
        if lead.received_at and due < lead.received_at:
            # Due before the lead reached us (a backlog replayed by a CRM, a delivery retried for hours):
            # nobody could have acted, so the step is passed over rather than all of them firing at once.
            continue
        if due > now:
            next_at = due
            break
        if not open_now and now - due > CLOSING_GRACE:
            next_at = business_time.next_opening(cal, now)
            break
        if not _firing_claim(lead=lead, step=step, due=due, now=now):
            continue
        changed |= _step_carry_out(lead=lead, step=step, due=due, now=now, cal=cal)
        fired += 1
    lead.sla_next_step_at = next_at
    lead.save(update_fields=sorted(changed))
    return fired


def _firing_claim(*, lead: Lead, step: EscalationStep, due: datetime, now: datetime) -> bool:
    """Insert first: the unique (lead, step) row is the claim; False when the step has already fired."""
    try:
        with transaction.atomic():
            StepFiring.objects.create(lead=lead, step=step, due_at=due, fired_at=now)
    except IntegrityError:
        return False
    return True


def _step_data(step: EscalationStep, due: datetime) -> dict:
    return {"step_id": step.pk, "kind": step.kind, "after_minutes": step.after_minutes, "due_at": due.isoformat()}


def _step_carry_out(*, lead: Lead, step: EscalationStep, due: datetime, now: datetime, cal: business_time.Calendar) -> set[str]:
    """Do what the step says; returns the lead fields it changed."""
    minutes = {"minutes": step.after_minutes}
    data = _step_data(step, due)
    if step.kind == Kind.REMIND:
        owner = lead.owner
        if owner is not None:
            detail = _("Reminder to %(rep)s: no first response %(minutes)d business minutes after submission") % {"rep": owner.name, **minutes}
        else:
            detail = _("No first response %(minutes)d business minutes after submission, and the lead has no owner") % minutes
        event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.REMINDER, at=now, rep=owner, detail=detail, data=data)
        escalation_notify(lead=lead, kind="remind", rep=owner, channel=step.channel, event=event)
        return set()
    if step.kind == Kind.REASSIGN:
        return _lead_reassign(lead=lead, step=step, now=now, cal=cal, data=data)
    if step.kind == Kind.ALERT_TEAM_LEAD:
        leaders = list(Rep.objects.filter(is_team_lead=True, is_active=True).order_by("name"))
        for leader in leaders:
            detail = _("Team lead %(rep)s alerted: no first response %(minutes)d business minutes after submission") % {"rep": leader.name, **minutes}
            event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, rep=leader, detail=detail, data=data)
            escalation_notify(lead=lead, kind="alert_team_lead", rep=leader, channel=step.channel, event=event)
        if leaders:
            return set()
        detail = _("No first response %(minutes)d business minutes after submission, and no team lead is set up to alert") % minutes
        LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, detail=detail, data=data)
        lead.needs_attention = True
        return {"needs_attention"}
    if step.kind == Kind.NOTIFY_CHANNEL:
        if step.channel is not None:
            detail = _("Posted to %(channel)s: no first response %(minutes)d business minutes after submission") % {"channel": step.channel.name, **minutes}
        else:
            detail = _("No first response %(minutes)d business minutes after submission; the step names no channel, so the team leads were told") % minutes
        event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, rep=lead.owner, detail=detail, data=data)
        escalation_notify(lead=lead, kind="notify_channel", rep=None, channel=step.channel, event=event)
        return set()
    logger.warning("escalation step %s of policy %s has an unknown kind %r", step.pk, step.policy_id, step.kind)
    return set()


def _previous_owner_ids(lead: Lead) -> set[int]:
    ids = {lead.owner_id} if lead.owner_id else set()
    for data in LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REASSIGNED).values_list("data", flat=True):
        if isinstance(data, dict) and isinstance(data.get("from_rep_id"), int):
            ids.add(data["from_rep_id"])
    return ids


def _reassign_target(*, lead: Lead, step: EscalationStep, now: datetime, cal: business_time.Calendar) -> tuple[Rep | None, list[str]]:
    """The step's named rep; else the next available rep of the pool the lead came through; else the on-duty rep.

    Nobody who already had the lead is picked again, so a chain with two reassignments moves it on twice.
    """
    exclude = _previous_owner_ids(lead)
    on = cal.local_date(now)
    lines: list[str] = []

    def usable(rep: Rep, role: str) -> bool:
        if rep.pk in exclude:
            lines.append(_("%(role)s %(rep)s skipped: already had this lead") % {"role": role, "rep": rep.name})
            return False
        available, why = rep_is_available(rep=rep, on=on)
        if not available:
            lines.append(_("%(role)s %(rep)s skipped: %(why)s") % {"role": role, "rep": rep.name, "why": why})
        return available

    if step.target_rep is not None:
        if usable(step.target_rep, _("The step's rep")):
            return step.target_rep, [*lines, _("the step names %(rep)s") % {"rep": step.target_rep.name}]
    if lead.pool is not None:
        rep, pool_lines = pool_pick_rep(pool=lead.pool, now=now, exclude=frozenset(exclude), preview=False)
        lines.extend(pool_lines)
        if rep is not None:
            return rep, lines
    rep = on_duty_rep(on=on)
    if rep is None:
        lines.append(_("nobody is on duty on %(day)s") % {"day": on.isoformat()})
    elif usable(rep, _("On-duty rep")):
        return rep, [*lines, _("%(rep)s is on duty") % {"rep": rep.name}]
    return None, lines


def _lead_reassign(*, lead: Lead, step: EscalationStep, now: datetime, cal: business_time.Calendar, data: dict) -> set[str]:
    minutes = {"minutes": step.after_minutes}
    rep, lines = _reassign_target(lead=lead, step=step, now=now, cal=cal)
    data = {**data, "lines": [str(line) for line in lines]}
    if rep is None:
        # Nobody to move it to: the lead stays, the manager is flagged and the team leads are told.
        detail = _("No first response %(minutes)d business minutes after submission, and nobody to reassign the lead to") % minutes
        event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, detail=detail, data=data)
        escalation_notify(lead=lead, kind="alert_team_lead", rep=None, channel=step.channel, event=event)
        lead.needs_attention = True
        return {"needs_attention"}

    previous = lead.owner
    data.update(from_rep_id=previous.pk if previous else None, to_rep_id=rep.pk)
    if previous is not None:
        detail = _("Reassigned from %(old)s to %(new)s: no first response %(minutes)d business minutes after submission") % {
            "old": previous.name,
            "new": rep.name,
            **minutes,
        }
    else:
        detail = _("Assigned to %(new)s: no first response %(minutes)d business minutes after submission") % {"new": rep.name, **minutes}
    lead.owner = rep
    changed = {"owner"}
    if lead.status == Lead.Status.UNASSIGNED:
        lead.status = Lead.Status.ASSIGNED
        changed.add("status")
    if lead.assigned_at is None:
        lead.assigned_at = now  # rep delay counts from the first assignment, not from this one
        changed.add("assigned_at")
    if lead.needs_attention:
        lead.needs_attention = False
        changed.add("needs_attention")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.REASSIGNED, at=now, rep=rep, detail=detail, data=data)
    escalation_notify(lead=lead, kind="reassigned", rep=rep, channel=step.channel, event=event)
    return changed
