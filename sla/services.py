"""Writes of the SLA app: start and stop a lead's clock, and the sweep that fires escalation steps.

The clock counts business minutes (core.business_time) from `submitted_at`. Each escalation step is due `after_minutes`
business minutes after submission; `Lead.sla_next_step_at` holds the next due moment and is indexed (partial
index `lead_sla_next_step`), so a sweep reads only leads with something due. A step fires at most once per
lead: the `StepFiring` row is inserted first and its unique constraint on (lead, step) turns a second attempt,
from a repeated sweep or a second worker, into a no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Prefetch

from core import business_time, resolver
from core.engine import LeadFacts
from core.messages import dump_lines
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from reps.models import Rep
from reps.roster import LockingRoster
from reps.selectors import team_leads
from routing.models import Lead, LeadEvent
from sla.models import BusinessCalendar, EscalationStep, SlaPolicy, StepFiring
from sla.selectors import Autoresponse, calendar_build, calendar_for, lead_sla_terms

logger = logging.getLogger(__name__)

# A step due at closing time (16:00) still fires in the sweep right after it. A step found overdue later while
# the office is closed (the cluster was down over the weekend) waits for the next opening: no reminders at night.
CLOSING_GRACE = timedelta(minutes=5)

Kind = EscalationStep.Kind
_SLA_FIELDS = ["priority", "sla_policy", "sla_due_at", "sla_next_step_at"]


# ---------------------------------------------------------------------------------------------- start / stop


@dataclass(frozen=True)
class EscalationNotice:
    """Who must hear of a fired step; the caller (flows) hands it to notifications in the same transaction."""

    kind: str  # remind, reassigned, alert_team_lead, notify_channel
    rep: Rep | None
    channel: Any  # notifications.Channel or None (sla sits below notifications and does not import it)
    event: LeadEvent


@transaction.atomic
def lead_sla_start(*, lead: Lead, now: datetime, facts: LeadFacts | None = None) -> Autoresponse | None:
    """Start a routed lead's clock: priority, policy, deadline, first step. Returns the autoresponse the lead is
    owed (an after-hours lead is told when we call), for the caller to send, or None. `facts`: the lead's facts as
    routing computed them (intake passes them, so policies are matched without looking anything up again).

    Safe to call again (re-routing): the fields are recomputed; the autoresponse's event key is per lead and
    template, so sending it again is a no-op.
    """
    terms = lead_sla_terms(lead=lead, now=now, facts=facts)
    if terms is None:
        lead.priority = lead.sla_policy = lead.sla_due_at = lead.sla_next_step_at = None
    else:
        lead.priority, lead.sla_policy = terms.priority, terms.policy
        lead.sla_due_at, lead.sla_next_step_at = terms.due_at, terms.next_step_at
    lead.save(update_fields=_SLA_FIELDS)
    if terms is None or terms.autoresponse is None or not lead.email:
        return None
    return terms.autoresponse


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


def leads_due_ids(*, now: datetime) -> list[int]:
    """Ids of the leads with an escalation step due at `now`, oldest due first (indexed: lead_sla_next_step)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("sla_tick needs an aware `now` (with a UTC offset)")
    return list(Lead.objects.filter(sla_next_step_at__lte=now).order_by("sla_next_step_at", "id").values_list("id", flat=True))


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
def lead_steps_fire(*, lead_id: int, now: datetime, policies: dict) -> list[EscalationNotice]:
    """Fire the lead's due escalation steps as of `now`; returns who must be told, one notice per fired step
    (a team-lead alert: one per team lead). Locks the lead's row; a lead another sweep holds is skipped.
    `policies` is the sweep's cache of policies and calendars."""
    notices: list[EscalationNotice] = []
    leads = Lead.objects.filter(pk=lead_id, sla_next_step_at__lte=now)
    if connection.features.has_select_for_update_skip_locked:
        # The condition is checked again once the row is locked: a lead another sweep just handled is skipped.
        leads = leads.select_for_update(skip_locked=True, of=("self",))
    lead = leads.select_related("owner", "pool").first()
    if lead is None:
        return notices

    found = _policy_with_calendar(lead.sla_policy_id, policies) if lead.sla_policy_id else None
    clock_stopped = lead.first_response_at is not None or lead.status in (Lead.Status.DISQUALIFIED, Lead.Status.CONTACTED)
    if found is None or clock_stopped or found[0].response_minutes is None:
        lead.sla_next_step_at = None
        lead.save(update_fields=["sla_next_step_at"])
        return notices
    policy, cal = found

    already = set(StepFiring.objects.filter(lead=lead).values_list("step_id", flat=True))
    open_now = business_time.is_open(cal, now)
    next_at = None
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
        changed |= _step_carry_out(lead=lead, step=step, due=due, now=now, cal=cal, notices=notices)
    lead.sla_next_step_at = next_at
    lead.save(update_fields=sorted(changed))
    return notices


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


def _step_carry_out(
    *, lead: Lead, step: EscalationStep, due: datetime, now: datetime, cal: business_time.Calendar, notices: list[EscalationNotice]
) -> set[str]:
    """Do what the step says, adding who must be told to `notices`; returns the lead fields it changed."""
    minutes = {"minutes": step.after_minutes}
    data = _step_data(step, due)
    if step.kind == Kind.REMIND:
        owner = lead.owner
        if owner is not None:
            detail = _("Reminder to %(rep)s: no first response %(minutes)d business minutes after submission") % {"rep": owner.name, **minutes}
        else:
            detail = _("No first response %(minutes)d business minutes after submission, and the lead has no owner") % minutes
        event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.REMINDER, at=now, rep=owner, detail=detail, data=data)
        notices.append(EscalationNotice(kind="remind", rep=owner, channel=step.channel, event=event))
        return set()
    if step.kind == Kind.REASSIGN:
        return _lead_reassign(lead=lead, step=step, now=now, cal=cal, data=data, notices=notices)
    if step.kind == Kind.ALERT_TEAM_LEAD:
        leaders = team_leads()
        for leader in leaders:
            detail = _("Team lead %(rep)s alerted: no first response %(minutes)d business minutes after submission") % {"rep": leader.name, **minutes}
            event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, rep=leader, detail=detail, data=data)
            notices.append(EscalationNotice(kind="alert_team_lead", rep=leader, channel=step.channel, event=event))
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
        notices.append(EscalationNotice(kind="notify_channel", rep=None, channel=step.channel, event=event))
        return set()
    logger.warning("escalation step %s of policy %s has an unknown kind %r", step.pk, step.policy_id, step.kind)
    return set()


def _previous_owner_ids(lead: Lead) -> frozenset[int]:
    """The lead's owner and everyone a reassignment already took it from."""
    ids = {lead.owner_id} if lead.owner_id else set()
    for data in LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.REASSIGNED).values_list("data", flat=True):
        if isinstance(data, dict) and isinstance(data.get("from_rep_id"), int):
            ids.add(data["from_rep_id"])
    return frozenset(ids)


def _reassign_target(*, lead: Lead, step: EscalationStep, now: datetime, cal: business_time.Calendar) -> tuple[Rep | None, list[str]]:
    """The step's named rep; else the next available rep of the pool the lead came through; else the on-duty rep.

    The routing resolver (core.resolver, `Reassign` chain) on the locking roster, as of the calendar's day. Nobody
    who already had the lead is picked again, so a chain with two reassignments moves it on twice.
    """
    roster = LockingRoster(day=cal.local_date(now))
    roster.know(step.target_rep)
    target = resolver.Reassign(step_rep_id=step.target_rep_id, pool_id=lead.pool_id, exclude=_previous_owner_ids(lead))
    found = resolver.resolve(target, roster)
    return roster.rep_model(found.owner_id), list(found.lines)


def _lead_reassign(
    *, lead: Lead, step: EscalationStep, now: datetime, cal: business_time.Calendar, data: dict[str, Any], notices: list[EscalationNotice]
) -> set[str]:
    """Move the lead to `_reassign_target`'s rep (or flag it when there is nobody); returns the fields changed."""
    minutes = {"minutes": step.after_minutes}
    rep, lines = _reassign_target(lead=lead, step=step, now=now, cal=cal)
    data = {**data, "lines": dump_lines(lines)}
    if rep is None:
        # Nobody to move it to: the lead stays, the manager is flagged and the team leads are told.
        detail = _("No first response %(minutes)d business minutes after submission, and nobody to reassign the lead to") % minutes
        event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, detail=detail, data=data)
        notices.append(EscalationNotice(kind="alert_team_lead", rep=None, channel=step.channel, event=event))
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
    notices.append(EscalationNotice(kind="reassigned", rep=rep, channel=step.channel, event=event))
    return changed
