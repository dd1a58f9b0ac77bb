"""A matched rule's actions that change the lead's own data: a task, a note, a tag, closing the lead; and the lead's
history lines for actions and messages.

The actions that send (notify, e-mail the lead, webhook) are `notifications.services.rule_messages_send`; the flow
that runs both, in that order, is `flows.services.leads.rule_actions_carry_out`. Each action runs in its own
savepoint: a broken one is logged in the lead's history and costs neither the lead nor the next action. An action
that already ran for the event is not run again (its history line, keyed by event and action, says so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core import business_time
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from reps.models import Rep
from routing.models import Activity, Lead, LeadEvent, Rule, RuleAction, Tag, Task

logger = logging.getLogger(__name__)

RECORD_KINDS = (RuleAction.Kind.TASK, RuleAction.Kind.NOTE, RuleAction.Kind.TAG, RuleAction.Kind.CLOSE)
# The lead's business calendar, asked for only by a task due in business minutes (the SLA layer owns calendars).
CalendarOf = Callable[[], business_time.Calendar | None]


def event_at(event: LeadEvent | None) -> datetime:
    """When the event that set the actions off happened (now, without one)."""
    return event.at if event is not None and event.at else timezone.now()


def action_key(*, event: LeadEvent | None, action: RuleAction) -> str:
    """What makes an action's run unique: the event and the action ("e12.a3"); the outbox keys messages by it."""
    return f"e{event.pk if event else '-'}.a{action.pk}"


def rule_actions_of(rule: Rule, *, kinds: tuple[str, ...] | None = None) -> list[RuleAction]:
    """The rule's actions in their order (with what sending needs), optionally only those of `kinds`."""
    actions = rule.actions.select_related("channel", "recipient_rep").order_by("position", "id")
    if kinds is not None:
        actions = actions.filter(kind__in=kinds)
    return list(actions)


def lead_history_add(*, lead: Lead, type: str, at: datetime, detail: str, rep: Rep | None = None, data: dict | None = None) -> LeadEvent:
    """One line of the lead's history (an action done, a message queued, an action failed); one INSERT, in the
    caller's transaction."""
    return LeadEvent.objects.create(lead=lead, type=type, at=at, rep=rep, detail=detail if len(detail) <= 2000 else detail[:2000], data=data or {})


def rule_action_failed(*, lead: Lead, action: RuleAction, event: LeadEvent | None) -> LeadEvent:
    """The history line of an action that broke (the error itself is in the server log). Not the action's
    done-marker: a later run of the same event tries it again."""
    return lead_history_add(
        lead=lead,
        type=LeadEvent.Type.ACTION,
        at=event_at(event),
        detail=_("Action failed: %(action)s (see the server log)") % {"action": action.get_kind_display()},
        data={"event": event.pk if event else None, "failed_action": action.pk},
    )


@transaction.atomic
def rule_actions_apply(*, lead: Lead, rule: Rule | None, event: LeadEvent | None, calendar: CalendarOf | None = None) -> None:
    """Carry out the rule's task, note, tag and close actions for a freshly routed lead (the others send: not here).

    `calendar`: gives the lead's business calendar, for a task due in business minutes (without one, or when it
    gives None, such a task is due in wall-clock minutes). Calling this twice for the same event adds nothing.
    """
    if rule is None:
        return
    for action in rule_actions_of(rule, kinds=RECORD_KINDS):
        try:
            with transaction.atomic():
                _action_apply(lead=lead, action=action, event=event, calendar=calendar)
        except Exception:
            logger.exception("action %s of rule %s failed for lead %s", action.pk, rule.pk, lead.pk)
            rule_action_failed(lead=lead, action=action, event=event)


def _action_done(*, lead: Lead, event: LeadEvent | None, action: RuleAction) -> bool:
    """Whether this action already ran for this event (a failed attempt is recorded under "failed_action")."""
    return LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.ACTION, data__event=event.pk if event else None, data__action=action.pk).exists()


def _action_apply(*, lead: Lead, action: RuleAction, event: LeadEvent | None, calendar: CalendarOf | None) -> None:
    if _action_done(lead=lead, event=event, action=action):
        return
    detail = _action_record(lead=lead, action=action, at=event_at(event), calendar=calendar)
    lead_history_add(
        lead=lead,
        type=LeadEvent.Type.ACTION,
        at=event_at(event),
        detail=detail,
        rep=lead.owner if lead.owner_id else None,
        data={"event": event.pk if event else None, "action": action.pk, "kind": action.kind},
    )


def _action_record(*, lead: Lead, action: RuleAction, at: datetime, calendar: CalendarOf | None) -> str:
    """A task, a note, a tag, or closing the lead. Returns the history line."""
    K = RuleAction.Kind
    if action.kind == K.TASK:
        title = (action.text or "Follow up")[:200]
        due_at = task_due(at=at, config=action.config, calendar=calendar)
        Task.objects.create(lead=lead, assignee=lead.owner if lead.owner_id else None, title=title, due_at=due_at)
        return _("Task for %(rep)s: %(title)s") % {"rep": lead.owner or _("nobody"), "title": title}
    if action.kind == K.NOTE:
        text = action.text
        if url := action.config.get("url"):
            text = f"{text}\n{url}".strip()
        Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE, at=at, rep=None, outcome=text[:2000])
        return _("Note added: %(text)s") % {"text": text[:200]}
    if action.kind == K.TAG:
        name = (action.text or action.config.get("tag") or "").strip()[:64]
        if not name:
            return _("Tag action without a tag name: nothing tagged")
        tag, _created = Tag.objects.get_or_create(name=name)
        lead.tags.add(tag)
        return _("Tagged “%(tag)s”") % {"tag": name}
    # CLOSE: no further escalation, and the lead leaves the open queues.
    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.DISQUALIFIED, sla_next_step_at=None)
    lead.status, lead.sla_next_step_at = Lead.Status.DISQUALIFIED, None
    return _("Closed by the rule: %(reason)s") % {"reason": action.text} if action.text else _("Closed by the rule")


def task_due(*, at: datetime, config: dict, calendar: CalendarOf | None = None) -> datetime | None:
    """A task's due time from the action's options: `due_business_minutes` on the lead's business calendar
    (wall-clock minutes when there is none), or `due_minutes` of wall clock; None without either."""
    if minutes := config.get("due_business_minutes"):
        cal = calendar() if calendar is not None else None
        if cal is not None:
            return business_time.add_business_minutes(cal, at, int(minutes))
        return at + timedelta(minutes=int(minutes))
    if minutes := config.get("due_minutes"):
        return at + timedelta(minutes=int(minutes))
    return None
