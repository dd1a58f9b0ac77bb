"""Flows of one lead across the apps: taking it in (route -> SLA clock -> rule actions -> the owner told) and logging
an activity on it (the first response stops the clock). Read this first to follow a lead from the API to its owner.

Routing looks the lead's facts up once (account, repeat lead, territory, domain lists: `routing.ruleset.lead_facts`);
the SLA start and the notifications receive them instead of asking the database again.
"""

import logging
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import business_time
from core.engine import LeadFacts
from core.logcontext import lead_log_bind, lead_log_scope
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from notifications.delivery import outbox_hand_over_now
from notifications.services import OwnerReason, lead_autorespond, lead_unassigned_alert, owner_notify, rule_messages_send
from reps.models import Rep
from routing.batch import batch_contain, batch_current, rows_batched
from routing.config_version import config_snapshot
from routing.models import Activity, IntakeSource, Lead, LeadEvent, Rule
from routing.ruleset import lead_facts
from routing.services.actions import lead_history_add, rule_actions_apply
from routing.services.assignment import lead_route_decide, rule_hit_add
from routing.services.intake import lead_normalise
from sla.selectors import Autoresponse, calendar_for
from sla.services import lead_sla_start, lead_sla_stop

logger = logging.getLogger(__name__)


def _contained(what: str, lead: Lead, run: Callable[[], None], *, at: datetime | None = None, event: LeadEvent | None = None) -> None:
    """Run one part of a lead's intake that must never cost the lead itself (an autoresponse, telling the owner): if
    it raises, the rows it added to the row batch are forgotten (`routing.batch`: at intake they are all it writes,
    so no savepoint is needed), the error is logged and, with `at`, the lead's history says so."""
    error = batch_contain(batch_current(), run)
    if error is not None:
        logger.error("%s for lead %s failed", what, lead.pk, exc_info=error)
        if at is not None:
            lead_history_add(
                lead=lead,
                type=LeadEvent.Type.NOTIFICATION,
                at=at,
                detail=_("The notification could not be queued (see the server log)"),
                data={"event": event.pk if event is not None else None, "failed": True},
            )


def _people_tell(*, lead: Lead, event: LeadEvent, facts: LeadFacts) -> None:
    """After routing and the rule's actions: the owner hears of the lead (whatever placed it: a rule, the fallback
    pool, the rep on duty), or, when nobody could take it, the team leads are alerted. A broken message must not
    cost the lead: it is logged and the lead's history says so."""

    def tell() -> None:
        if lead.status == Lead.Status.ASSIGNED and lead.owner_id:
            owner_notify(lead=lead, event=event, reason=OwnerReason.ROUTED, facts=facts)
        elif lead.status == Lead.Status.UNASSIGNED:
            lead_unassigned_alert(lead=lead, event=event, facts=facts)

    _contained("telling the owner / team leads", lead, tell, at=event.at, event=event)


def _lead_calendar(lead: Lead) -> business_time.Calendar | None:
    """The business calendar of the lead's SLA policy (a task due in business minutes runs on it)."""
    return calendar_for(lead.sla_policy) if lead.sla_policy_id else None


@transaction.atomic(savepoint=False)  # each part contains its own failures (routing.services.actions.actions_run_contained)
def rule_actions_carry_out(*, lead: Lead, rule: Rule | None, event: LeadEvent | None, facts: LeadFacts | None = None) -> None:
    """The matched rule's actions, in two steps: first what changes the lead (routing: task, note, tag, close), then
    what sends (notifications: notify, e-mail the lead, webhook), so a message already sees the lead's task and tags.
    Each action in its own savepoint; calling this twice for the same event adds nothing."""
    rule_actions_apply(lead=lead, rule=rule, event=event, calendar=partial(_lead_calendar, lead))
    rule_messages_send(lead=lead, rule=rule, event=event, facts=facts)


class ActivityRefused(ValueError):
    """An activity that cannot be logged; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _lead_by_retry_key(*, source: IntakeSource, idempotency_key: str | None, external_id: str | None) -> Lead | None:
    if idempotency_key:
        found = Lead.objects.filter(intake_source=source, idempotency_key=idempotency_key).first()
        if found:
            return found
    if external_id:
        return Lead.objects.filter(intake_source=source, external_id=external_id).first()
    return None


@lead_log_scope  # outside the transaction: its after-commit work logs with the lead's id too
@config_snapshot()  # the cached configuration's versions: one query for the whole lead (routing.config_version)
@transaction.atomic
def lead_create(*, source: IntakeSource, fields: dict, idempotency_key: str | None = None, now: datetime | None = None) -> tuple[Lead, bool]:
    """Take in one lead: store it, route it, start its SLA clock, carry out the rule's actions and queue its messages.

    Returns (lead, created). A retry (same Idempotency-Key or external_id from the same source) returns the
    earlier lead and changes nothing. Two concurrent retries are settled by the unique constraints, not by
    the read below: the loser's insert fails and it returns the winner's lead.
    """
    now = now or timezone.now()
    existing = _lead_by_retry_key(source=source, idempotency_key=idempotency_key, external_id=fields.get("external_id"))
    if existing:
        return existing, False

    # Decided first, stored once: routing (the facts, the score, the resolver's pick on the locked roster) and the
    # SLA clock are set on the unsaved lead, then ONE insert stores it with all of them (docs/performance.md).
    lead = lead_normalise(Lead(intake_source=source, idempotency_key=idempotency_key or None, received_at=now, **fields))
    keyed = bool(idempotency_key or fields.get("external_id"))
    try:
        # A savepoint only where a race is possible: a concurrent retry with the same key loses on the unique
        # constraint, and only rolling back to here (the pool's turn and the rep's load included) lets it answer
        # with the winner's lead.
        with transaction.atomic() if keyed else nullcontext():
            event = lead_route_decide(lead=lead, now=now)
            facts = lead_facts(lead)  # looked up once, by the router (kept on the lead); with the lead's score
            reply = lead_sla_start(lead=lead, now=now, facts=facts, save=False)
            lead.save(force_insert=True)
    except IntegrityError:
        existing = _lead_by_retry_key(source=source, idempotency_key=idempotency_key, external_id=fields.get("external_id"))
        if existing is None:
            raise
        return existing, False

    lead_log_bind(lead.pk)
    received = LeadEvent(lead=lead, type=LeadEvent.Type.RECEIVED, at=now, detail=_("via %(source)s") % {"source": source.name})
    received.detail_keep_code()
    event.lead = lead
    LeadEvent.objects.bulk_create([received, event])  # one INSERT; both get their ids (the messages' keys name the event)
    event.actions_none_yet = True  # no rule action can have run for it yet (routing.services.actions)
    lead._events_written = [received, event]  # the answer's history without reading it back (routing.selectors)
    with rows_batched() as batch:  # history lines, messages, tasks, notes: one INSERT per table when the block ends
        batch.fresh_lead_ids.add(lead.pk)
        if reply is not None:
            _contained(f"autoresponse {reply.template!r}", lead, partial(_autorespond, lead=lead, reply=reply))
        if lead.rule_id is not None:
            rule_actions_carry_out(lead=lead, rule=lead.rule, event=event, facts=facts)
        _people_tell(lead=lead, event=event, facts=facts)
    lead._events_written += [row for row in batch.inserted if isinstance(row, LeadEvent)]
    if lead.rule_id is not None:
        rule_hit_add(rule_id=lead.rule_id, at=now)  # the rule's row is locked only from here to the commit
    outbox_hand_over_now()  # last: the ORM broker's task row in this transaction, no commit of its own
    return lead, True


def _autorespond(*, lead: Lead, reply: Autoresponse) -> None:
    lead_autorespond(lead=lead, template=reply.template, context=reply.context, event_key=reply.event_key)


def _activity_line(*, kind: str, outcome: str) -> str:
    """ "Call: no answer" for the history, the kind in the reader's language (the outcome as the rep wrote it)."""
    label = Activity.Kind(kind).label
    return _("%(kind)s: %(outcome)s") % {"kind": label, "outcome": outcome} if outcome else _("%(kind)s") % {"kind": label}


@transaction.atomic
def activity_log(*, lead: Lead, kind: str, at: datetime, rep_email: str | None = None, outcome: str = "") -> Activity:
    """Log a call, e-mail, meeting or note. The first call / e-mail / meeting is the first response: it stops the clock."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if rep_email:
        rep = Rep.objects.filter(email__iexact=rep_email).first()
        if rep is None:
            raise ActivityRefused("rep", f"No rep with the e-mail {rep_email}.")
    else:
        rep = lead.owner
        if rep is None:
            raise ActivityRefused("rep", "The lead has no owner: name the rep.")
    if at < lead.submitted_at:
        raise ActivityRefused("at", "Cannot be earlier than the lead was submitted.")

    activity = Activity.objects.create(lead=lead, kind=kind, at=at, rep=rep, outcome=outcome)
    LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ACTIVITY, at=at, rep=rep, detail=_activity_line(kind=kind, outcome=outcome))
    if kind in Activity.RESPONSE_KINDS and lead.first_response_at is None:
        lead.first_response_at = at
        lead.status = Lead.Status.CONTACTED
        lead.save(update_fields=["first_response_at", "status"])
        LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.FIRST_RESPONSE, at=at, rep=rep, detail=activity.get_kind_display())
        lead_sla_stop(lead=lead, at=at)
    return activity
