"""Writes of the SLA app: start and stop a lead's clock, and the sweep that fires escalation steps.

The clock counts business minutes (core.business_time) from `submitted_at`. Each escalation step is due `after_minutes`
business minutes after submission; `Lead.sla_next_step_at` holds the next due moment and is indexed (partial
index `lead_sla_next_step`), so a sweep reads only leads with something due. A step fires at most once per
lead: its `StepFiring` row is unique on (lead, step). A lead delivered late has its steps that fell due before
it arrived collapsed into one action (`_late_arrival`): its owner is told once, or, when even the whole chain ran
out before it came in, the manager is flagged and nobody is paged.

Two ways to fire, one set of decisions (`_lead_steps_decide`):
- `leads_steps_fire`, the sweep's: a chunk of leads in bulk. Their rows are locked in one query (SKIP LOCKED on
  PostgreSQL: a lead another sweep holds is left to it), their firings read in one (the lock keeps any other sweep
  off them, so what is read is what has fired), the steps decided in memory, the firings and events held in a row
  batch (`routing.batch`) and inserted one table at a time, the leads updated in bulk. A firing that exists after
  all makes its INSERT fail, and the chunk with it: never a notice for a step that did not fire. A lead with a
  reassignment due (the roster's pool row locks, the earlier owners read) is left out, for `lead_steps_fire`.
- `lead_steps_fire`: one lead, each row written at once; a firing is claimed by inserting it first, in a savepoint,
  so a second attempt (a repeated sweep, a second worker, a path without the lock) is a no-op. The sweep's way for
  a lead with a reassignment due, and for the leads of a chunk that failed, one by one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Prefetch
from django.utils.translation import ngettext

from core import business_time, resolver
from core.engine import LeadFacts
from core.logcontext import lead_log_context
from core.messages import dump_lines
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from reps.models import Rep
from reps.roster import LockingRoster
from reps.selectors import team_leads
from routing.batch import batch_current, rows_batched
from routing.models import Lead, LeadEvent
from routing.services.actions import lead_history_add
from sla.models import BusinessCalendar, EscalationStep, SlaPolicy, StepFiring
from sla.selectors import Autoresponse, calendar_build, calendar_for, lead_sla_terms

logger = logging.getLogger(__name__)

# A step due at closing time (16:00) still fires in the sweep right after it. A step found overdue later while
# the office is closed (the cluster was down over the weekend) waits for the next opening: no reminders at night.
CLOSING_GRACE = timedelta(minutes=5)

Kind = EscalationStep.Kind
# The notice for a lead that arrived after some of its steps were due: its owner (or, without one, the team
# leads) hears once that it came in late; template notifications/late_arrival.txt.
LATE_ARRIVAL = "late_arrival"
_SLA_FIELDS = ["priority", "sla_policy", "sla_due_at", "sla_next_step_at"]


# ---------------------------------------------------------------------------------------------- start / stop


@dataclass(frozen=True)
class EscalationNotice:
    """Who must hear of a fired step; the caller (flows) hands it to notifications in the same transaction."""

    kind: str  # remind, reassigned, alert_team_lead, notify_channel, late_arrival (LATE_ARRIVAL)
    rep: Rep | None
    channel: Any  # notifications.Channel or None (sla sits below notifications and does not import it)
    event: LeadEvent


@transaction.atomic(savepoint=False)  # intake calls it inside its transaction: no partial rollback wanted
def lead_sla_start(*, lead: Lead, now: datetime, facts: LeadFacts | None = None, save: bool = True) -> Autoresponse | None:
    """Start a routed lead's clock: priority, policy, deadline, first step. Returns the autoresponse the lead is
    owed (an after-hours lead is told when we call), for the caller to send, or None. `facts`: the lead's facts as
    routing computed them (intake passes them, so policies are matched without looking anything up again).

    Safe to call again (re-routing): the fields are recomputed; the autoresponse's event key is per lead and
    template, so sending it again is a no-op. `save=False`: only set the fields (intake inserts the lead with them).
    """
    terms = lead_sla_terms(lead=lead, now=now, facts=facts)
    if terms is None:
        lead.priority = lead.sla_policy = lead.sla_due_at = lead.sla_next_step_at = None
    else:
        lead.priority, lead.sla_policy = terms.priority, terms.policy
        lead.sla_due_at, lead.sla_next_step_at = terms.due_at, terms.next_step_at
    if save:
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


def _leads_locked(*, lead_ids: list[int], now: datetime) -> list[Lead]:
    """The leads among `lead_ids` still due at `now`, each row locked (PostgreSQL); a lead another sweep holds is
    left out. In one query however many ids."""
    leads = Lead.objects.filter(pk__in=lead_ids, sla_next_step_at__lte=now)
    if connection.features.has_select_for_update_skip_locked:
        # The condition is checked again once the row is locked: a lead another sweep just handled is skipped.
        leads = leads.select_for_update(skip_locked=True, of=("self",))
    # owner, pool and rule: what the steps and the messages read of the lead, without a query per lead.
    return list(leads.select_related("owner", "pool", "rule").order_by("sla_next_step_at", "id"))


@transaction.atomic
def lead_steps_fire(*, lead_id: int, now: datetime, policies: dict) -> list[EscalationNotice]:
    """Fire the lead's due escalation steps as of `now`; returns who must be told, one notice per fired step
    (a team-lead alert: one per team lead). Locks the lead's row; a lead another sweep holds is skipped.
    `policies` is the sweep's cache of policies and calendars.

    One lead, every row written at once: the sweep's way for a lead with a reassignment due, and for the leads of a
    chunk whose bulk firing failed (`leads_steps_fire`)."""
    leads = _leads_locked(lead_ids=[lead_id], now=now)
    if not leads:
        return []
    lead = leads[0]
    fired = list(StepFiring.objects.filter(lead=lead).values_list("step_id", "before_arrival"))
    notices, changed = _lead_steps_decide(lead=lead, fired=fired, now=now, policies=policies)
    lead.save(update_fields=sorted(changed))
    return notices


@dataclass
class ChunkFired:
    """What `leads_steps_fire` did with a chunk: the notices of its leads, and the leads it left alone."""

    notices: list[EscalationNotice]
    # Leads with a reassignment due: left untouched, for the caller to fire one by one, each in its own transaction
    # after the chunk's (`lead_steps_fire`): a reassignment locks pool rows, and a transaction holding several leads'
    # pools could deadlock with another sweep's chunk or an intake taking them in another order.
    reassigning: list[int]


@transaction.atomic(savepoint=False)  # the sweep's chunk transaction (or its own): nothing to roll back alone
def leads_steps_fire(*, lead_ids: list[int], now: datetime, policies: dict) -> ChunkFired:
    """`lead_steps_fire` for a chunk of leads in bulk, with a bounded number of statements whatever the chunk's size:
    the leads locked and read in one query, their fired steps in one (safe: the lead's lock keeps any other sweep
    from firing its steps meanwhile), the steps decided in memory, the `StepFiring` rows and the events inserted
    in one `bulk_create` per table (a row batch, `routing.batch`), the leads updated with one UPDATE per set of
    changed fields. A lead with a reassignment due is left for the caller (`ChunkFired.reassigning`). A step fired
    by someone else meanwhile (a path without the lead's lock) makes the insert raise: the caller's transaction
    fails whole and nothing is told."""
    leads = _leads_locked(lead_ids=lead_ids, now=now)
    if not leads:
        return ChunkFired(notices=[], reassigning=[])
    fired: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for lead_id, step_id, before in StepFiring.objects.filter(lead_id__in=[lead.pk for lead in leads]).values_list("lead_id", "step_id", "before_arrival"):
        fired[lead_id].append((step_id, before))
    notices: list[EscalationNotice] = []
    reassigning: list[int] = []
    by_fields: dict[tuple[str, ...], list[Lead]] = defaultdict(list)
    with rows_batched():
        for lead in leads:
            if _reassign_due(lead=lead, fired=fired[lead.pk], now=now, policies=policies):
                reassigning.append(lead.pk)
                continue
            with lead_log_context(lead.pk):
                lead_notices, changed = _lead_steps_decide(lead=lead, fired=fired[lead.pk], now=now, policies=policies)
            notices += lead_notices
            by_fields[tuple(sorted(changed))].append(lead)
    for fields, group in by_fields.items():  # almost always one group: only the next step moved
        Lead.objects.bulk_update(group, list(fields))
    return ChunkFired(notices=notices, reassigning=reassigning)


def _reassign_due(*, lead: Lead, fired: list[tuple[int, bool]], now: datetime, policies: dict) -> bool:
    """Might a reassignment step fire for the lead now? (Errs towards yes: such a lead is only fired the slower way.)"""
    found = _policy_with_calendar(lead.sla_policy_id, policies) if lead.sla_policy_id else None
    if found is None:
        return False
    policy, cal = found
    already = {step_id for step_id, _before in fired}
    return any(
        step.kind == Kind.REASSIGN and step.pk not in already and business_time.add_business_minutes(cal, lead.submitted_at, step.after_minutes) <= now
        for step in policy.steps.all()
    )


def _lead_steps_decide(*, lead: Lead, fired: list[tuple[int, bool]], now: datetime, policies: dict) -> tuple[list[EscalationNotice], set[str]]:
    """Fire the locked lead's due steps: the firings and events are written (or held in the open row batch), the
    lead's fields set in memory. Returns the notices and the lead fields to save. `fired`: its (step id,
    before arrival) firings, read under the lead's lock."""
    notices: list[EscalationNotice] = []
    found = _policy_with_calendar(lead.sla_policy_id, policies) if lead.sla_policy_id else None
    clock_stopped = lead.first_response_at is not None or lead.status in (Lead.Status.DISQUALIFIED, Lead.Status.CONTACTED)
    if found is None or clock_stopped or found[0].response_minutes is None:
        lead.sla_next_step_at = None
        return notices, {"sla_next_step_at"}
    policy, cal = found

    already = {step_id for step_id, _before in fired}
    collapsed = any(before for _step_id, before in fired)  # the late arrival was handled already
    open_now = business_time.is_open(cal, now)
    next_at = None
    changed: set[str] = {"sla_next_step_at"}
    chain = [(step, business_time.add_business_minutes(cal, lead.submitted_at, step.after_minutes)) for step in policy.steps.all()]
    # Steps due before the lead reached us (a backlog replayed by a CRM, a delivery retried for an hour): nobody
    # could have acted on them, so they collapse into one late-arrival action instead of all firing at once.
    missed = [(step, due) for step, due in chain if lead.received_at and due < lead.received_at and step.pk not in already]
    if missed and collapsed:
        # A step added to the policy after the lead's late arrival was handled: passed over, nobody told twice.
        _late_arrival_claim(lead=lead, missed=missed, now=now)
        already |= {step.pk for step, _due in missed}
    elif missed:
        if not _late_arrival_now(lead=lead, cal=cal, now=now, whole_chain=len(missed) == len(chain)):
            lead.sla_next_step_at = business_time.next_opening(cal, now)
            return notices, {"sla_next_step_at"}
        changed |= _late_arrival(lead=lead, missed=missed, whole_chain=len(missed) == len(chain), now=now, cal=cal, notices=notices)
        already |= {step.pk for step, _due in missed}
    for step, due in chain:
        if step.pk in already:
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
    return notices, changed


def _late_arrival_now(*, lead: Lead, cal: business_time.Calendar, now: datetime, whole_chain: bool) -> bool:
    """Is `now` the moment for a late lead's one action? A flag for the manager pages nobody: at once. Telling the
    owner waits for the office (a lead that came in at closing time still gets it in the sweep right after)."""
    if whole_chain or business_time.is_open(cal, now):
        return True
    return now - lead.received_at <= CLOSING_GRACE and business_time.is_open(cal, lead.received_at)


def _late_arrival_claim(*, lead: Lead, missed: list[tuple[EscalationStep, datetime]], now: datetime) -> bool:
    """Claim the missed steps together, marked `before_arrival`; False when another sweep claimed them first.
    In a row batch (the bulk sweep, which read the lead's firings under its lock): held for the batch's insert."""
    firings = [StepFiring(lead=lead, step=step, due_at=due, fired_at=now, before_arrival=True) for step, due in missed]
    batch = batch_current()
    if batch is not None:
        for firing in firings:
            batch.add(firing)
        return True
    try:
        with transaction.atomic():
            StepFiring.objects.bulk_create(firings)
    except IntegrityError:
        return False
    return True


def _late_arrival(
    *,
    lead: Lead,
    missed: list[tuple[EscalationStep, datetime]],
    whole_chain: bool,
    now: datetime,
    cal: business_time.Calendar,
    notices: list[EscalationNotice],
) -> set[str]:
    """The one action for the steps that fell due before the lead arrived; returns the lead fields it changed.

    The missed steps are claimed together (their `StepFiring` rows, marked `before_arrival`, in one savepoint): a
    second sweep finds them claimed and does nothing. A lead older than its policy's whole chain (a replayed
    backlog) is flagged for the manager with an event and pages nobody; otherwise the owner (no owner: the team
    leads) is told at once that the lead came in late, and the chain goes on from there.
    """
    if not _late_arrival_claim(lead=lead, missed=missed, now=now):
        return set()
    late = max(0, round(business_time.business_minutes_between(cal, lead.submitted_at, lead.received_at)))
    overdue = lead.sla_due_at is None or lead.sla_due_at <= lead.received_at
    data = {
        "late_arrival": True,
        "late_business_minutes": late,
        "late_seconds": max(0, round((lead.received_at - lead.submitted_at).total_seconds())),
        "overdue": overdue,
        "step_ids": [step.pk for step, _due in missed],
        "whole_chain": whole_chain,
    }
    arrived = ngettext(
        "Arrived %(minutes)d business minute late, already past its first-response deadline.",
        "Arrived %(minutes)d business minutes late, already past its first-response deadline.",
        late,
    ) % {"minutes": late}
    if not overdue:
        arrived = ngettext(
            "Arrived %(minutes)d business minute late; its first response is due at %(due)s.",
            "Arrived %(minutes)d business minutes late; its first response is due at %(due)s.",
            late,
        ) % {"minutes": late, "due": lead.sla_due_at.astimezone(cal.zone).strftime("%H:%M")}
    if whole_chain:
        detail = _("%(arrived)s Its whole escalation chain had run out before it came in: flagged for the manager, nobody paged.") % {"arrived": arrived}
        lead_history_add(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, detail=detail, data=data)
        lead.needs_attention = True
        return {"needs_attention"}
    owner = lead.owner
    if owner is not None:
        detail = _("%(arrived)s %(rep)s is told to respond now.") % {"arrived": arrived, "rep": owner.name}
    else:
        detail = _("%(arrived)s It has no owner: the team leads are told.") % {"arrived": arrived}
    event = lead_history_add(lead=lead, type=LeadEvent.Type.REMINDER, at=now, rep=owner, detail=detail, data=data)
    notices.append(EscalationNotice(kind=LATE_ARRIVAL, rep=owner, channel=None, event=event))
    return set()


def _firing_claim(*, lead: Lead, step: EscalationStep, due: datetime, now: datetime) -> bool:
    """Insert first: the unique (lead, step) row is the claim; False when the step has already fired.

    In a row batch (the bulk sweep) the row is held for the batch's one INSERT: the caller read the lead's firings
    under the lead's lock, so the step is known not to have fired; should it have after all, that INSERT raises and
    the whole chunk rolls back, nobody told."""
    batch = batch_current()
    if batch is not None:
        batch.add(StepFiring(lead=lead, step=step, due_at=due, fired_at=now))
        return True
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
        event = lead_history_add(lead=lead, type=LeadEvent.Type.REMINDER, at=now, rep=owner, detail=detail, data=data)
        notices.append(EscalationNotice(kind="remind", rep=owner, channel=step.channel, event=event))
        return set()
    if step.kind == Kind.REASSIGN:
        return _lead_reassign(lead=lead, step=step, now=now, cal=cal, data=data, notices=notices)
    if step.kind == Kind.ALERT_TEAM_LEAD:
        leaders = team_leads()
        for leader in leaders:
            detail = _("Team lead %(rep)s alerted: no first response %(minutes)d business minutes after submission") % {"rep": leader.name, **minutes}
            event = lead_history_add(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, rep=leader, detail=detail, data=data)
            notices.append(EscalationNotice(kind="alert_team_lead", rep=leader, channel=step.channel, event=event))
        if leaders:
            return set()
        detail = _("No first response %(minutes)d business minutes after submission, and no team lead is set up to alert") % minutes
        lead_history_add(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, detail=detail, data=data)
        lead.needs_attention = True
        return {"needs_attention"}
    if step.kind == Kind.NOTIFY_CHANNEL:
        if step.channel is not None:
            detail = _("Posted to %(channel)s: no first response %(minutes)d business minutes after submission") % {"channel": step.channel.name, **minutes}
        else:
            detail = _("No first response %(minutes)d business minutes after submission; the step names no channel, so the team leads were told") % minutes
        event = lead_history_add(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, rep=lead.owner, detail=detail, data=data)
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
    batch = batch_current()
    if batch is not None:
        # Not from the sweep (it fires a lead with a reassignment due on its own), but should a batch be open: its
        # rows go in first, for the target excludes everyone an earlier reassignment took the lead from, read from
        # the stored events.
        batch.flush()
    rep, lines = _reassign_target(lead=lead, step=step, now=now, cal=cal)
    data = {**data, "lines": dump_lines(lines)}
    if rep is None:
        # Nobody to move it to: the lead stays, the manager is flagged and the team leads are told.
        detail = _("No first response %(minutes)d business minutes after submission, and nobody to reassign the lead to") % minutes
        event = lead_history_add(lead=lead, type=LeadEvent.Type.ESCALATED, at=now, detail=detail, data=data)
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
        lead.system_delay_seconds = max(0, round((now - lead.submitted_at).total_seconds()))  # submitted -> assigned
        changed |= {"assigned_at", "system_delay_seconds"}
    if lead.needs_attention:
        lead.needs_attention = False
        changed.add("needs_attention")
    event = lead_history_add(lead=lead, type=LeadEvent.Type.REASSIGNED, at=now, rep=rep, detail=detail, data=data)
    notices.append(EscalationNotice(kind="reassigned", rep=rep, channel=step.channel, event=event))
    return changed
