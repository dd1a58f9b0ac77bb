"""A matched rule's actions that change the lead's own data: a task, a note, a tag, closing the lead; and the lead's
history lines for actions and messages.

The actions that send (notify, e-mail the lead, webhook) are `notifications.services.rule_messages_send`; the flow
that runs both, in that order, is `flows.services.leads.rule_actions_carry_out`. Each action runs in its own
savepoint: a broken one is logged in the lead's history and costs neither the lead nor the next action. An action
that already ran for the event is not run again (its history line, keyed by event and action, says so).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from django.db import models, transaction
from django.utils import timezone

from core import business_time
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from reps.models import Rep
from routing.batch import batch_contain, batch_current
from routing.config_version import config_versions, registered_versions
from routing.models import Activity, Lead, LeadEvent, Rule, RuleAction, RuleTable, Tag, Task

logger = logging.getLogger(__name__)

RECORD_KINDS = (RuleAction.Kind.TASK, RuleAction.Kind.NOTE, RuleAction.Kind.TAG, RuleAction.Kind.CLOSE)
BATCHED_KINDS = (RuleAction.Kind.TASK, RuleAction.Kind.NOTE)  # rows only: held in intake's row batch (routing.batch)
# The lead's business calendar, asked for only by a task due in business minutes (the SLA layer owns calendars).
CalendarOf = Callable[[], business_time.Calendar | None]


def event_at(event: LeadEvent | None) -> datetime:
    """When the event that set the actions off happened (now, without one)."""
    return event.at if event is not None and event.at else timezone.now()


def action_key(*, event: LeadEvent | None, action: RuleAction) -> str:
    """What makes an action's run unique: the event and the action ("e12.a3"); the outbox keys messages by it."""
    return f"e{event.pk if event else '-'}.a{action.pk}"


# The live table's actions by rule, read once per process; version: the rule set's (it counts actions, and every
# action edit moves its rule's updated_at through routing.services.rules) and the channels' when registered.
_actions_lock = threading.Lock()
_actions_cached: tuple[tuple, float, dict[int, list[RuleAction]]] | None = None
ACTIONS_MAX_AGE_SECONDS = 300.0


def _actions_by_rule() -> dict[int, list[RuleAction]]:
    global _actions_cached
    versions = config_versions(*(name for name in ("rules", "channels") if name in registered_versions()))
    version = tuple(versions.items())
    cached = _actions_cached
    if cached is not None and cached[0] == version and time.monotonic() - cached[1] < ACTIONS_MAX_AGE_SECONDS:
        return cached[2]
    by_rule: dict[int, list[RuleAction]] = {rule_id: [] for rule_id in Rule.objects.values_list("id", flat=True)}  # live rules, even without actions
    for action in RuleAction.objects.filter(rule__table__status=RuleTable.Status.LIVE).select_related("channel").order_by("rule_id", "position", "id"):
        by_rule.setdefault(action.rule_id, []).append(action)
    with _actions_lock:
        _actions_cached = (version, time.monotonic(), by_rule)
    return by_rule


def _fresh_copy(action: RuleAction) -> RuleAction:
    """A copy of a cached action for one lead: what it loads later (its rep) stays on the copy, not in the cache."""
    clone = copy.copy(action)
    clone._state = copy.copy(action._state)
    clone._state.fields_cache = dict(action._state.fields_cache)
    clone._state.fields_cache.pop("recipient_rep", None)
    return clone


def rule_actions_of(rule: Rule, *, kinds: tuple[str, ...] | None = None) -> list[RuleAction]:
    """The rule's actions in their order (with their channels; a named rep is read when used), optionally only those
    of `kinds`. A live rule's come from the per-process cache (no query inside an intake's config snapshot); a rule
    of another table (archived by a publish a moment ago) is read from the database."""
    cached = _actions_by_rule()
    if rule.pk in cached:
        actions = [_fresh_copy(action) for action in cached.get(rule.pk, ())]
    else:
        actions = list(rule.actions.select_related("channel", "recipient_rep").order_by("position", "id"))
    if kinds is not None:
        actions = [action for action in actions if action.kind in kinds]
    return actions


def rule_actions_invalidate() -> None:
    global _actions_cached
    with _actions_lock:
        _actions_cached = None


def lead_history_add(
    *, lead: Lead, type: str, at: datetime, detail: str, rep: Rep | None = None, data: dict | None = None, messages: Sequence[models.Model] = ()
) -> LeadEvent:
    """One line of the lead's history (an action done, a message queued, an action failed), in the caller's
    transaction: one INSERT, or held for the bulk insert when a row batch is open (`routing.batch`: intake).
    `messages`: the outbox messages the line is about; their ids go into `data["messages"]` (once they have them)."""
    event = LeadEvent(lead=lead, type=type, at=at, rep=rep, detail=detail if len(detail) <= 2000 else detail[:2000], data=dict(data or {}))
    event.detail_keep_code()

    def message_ids() -> None:
        if messages:
            event.data["messages"] = [message.pk for message in messages]

    batch = batch_current()
    if batch is not None:
        batch.add(event, depends_on=messages, on_insert=message_ids)
        return event
    message_ids()
    event.save(force_insert=True)
    return event


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


def actions_run_contained(
    actions: list[RuleAction], run: Callable[[RuleAction], None], failed: Callable[[RuleAction, Exception], None], *, writes: bool = True
) -> None:
    """Run each action so that a broken one costs neither the lead nor the next action, in as few round trips as the
    happy path allows: all of them at once; only if one of them raises is what they did undone and they run again
    one by one, each contained on its own (the broken one is handed to `failed`).

    Contained means: rows held in the open row batch (`routing.batch`, intake) are forgotten back to a mark, and,
    when the actions write to the database themselves (`writes`), a savepoint is rolled back too — a database error
    inside an action aborts the whole transaction on PostgreSQL, and only rolling back to a savepoint lets the lead
    itself commit. Actions that only add to the row batch (`writes=False`: messages, tasks, notes at intake) need no
    savepoint: their rows reach the database in the batch's one INSERT per table."""
    if not actions:
        return
    batch = batch_current()

    def all_of(group: list[RuleAction]) -> None:
        for action in group:
            run(action)

    def contained(group: list[RuleAction]) -> Exception | None:
        if batch is not None and not writes:
            return batch_contain(batch, partial(all_of, group))
        mark = batch.mark() if batch is not None else None
        try:
            with transaction.atomic():
                all_of(group)
        except Exception as error:
            if mark is not None:
                batch.rollback_to(mark)
            return error
        return None

    if contained(actions) is None:
        return
    for action in actions:  # one by one, so the good ones still happen and the broken one is named
        error = contained([action])
        if error is not None:
            failed(action, error)


@transaction.atomic(savepoint=False)
def rule_actions_apply(*, lead: Lead, rule: Rule | None, event: LeadEvent | None, calendar: CalendarOf | None = None) -> None:
    """Carry out the rule's task, note, tag and close actions for a freshly routed lead (the others send: not here).

    `calendar`: gives the lead's business calendar, for a task due in business minutes (without one, or when it
    gives None, such a task is due in wall-clock minutes). Calling this twice for the same event adds nothing.
    """
    if rule is None:
        return

    def failed(action: RuleAction, error: Exception) -> None:
        logger.error("action %s of rule %s failed for lead %s", action.pk, rule.pk, lead.pk, exc_info=error)
        rule_action_failed(lead=lead, action=action, event=event)

    actions = rule_actions_of(rule, kinds=RECORD_KINDS)
    # At intake tasks and notes are rows of the batch; a tag or closing the lead writes at once (a savepoint then).
    batched = batch_current() is not None and all(action.kind in BATCHED_KINDS for action in actions)
    actions_run_contained(actions, lambda action: _action_apply(lead=lead, action=action, event=event, calendar=calendar), failed, writes=not batched)
    if event is not None:
        event.actions_none_yet = False  # a second run for the same event looks its actions up


def _action_done(*, lead: Lead, event: LeadEvent | None, action: RuleAction) -> bool:
    """Whether this action already ran for this event (a failed attempt is recorded under "failed_action"). An event
    routing has just written (`actions_none_yet`, set by `lead_route`, cleared once the actions ran) has had no
    action run yet: no query."""
    if event is not None and getattr(event, "actions_none_yet", False):
        return False
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


def _row_save(row: Task | Activity) -> None:
    """Insert now, or hold for the bulk insert in intake's row batch."""
    batch = batch_current()
    if batch is not None:
        batch.add(row)
    else:
        row.save(force_insert=True)


def _action_record(*, lead: Lead, action: RuleAction, at: datetime, calendar: CalendarOf | None) -> str:
    """A task, a note, a tag, or closing the lead. Returns the history line."""
    K = RuleAction.Kind
    if action.kind == K.TASK:
        title = (action.text or "Follow up")[:200]
        due_at = task_due(at=at, config=action.config, calendar=calendar)
        _row_save(Task(lead=lead, assignee=lead.owner if lead.owner_id else None, title=title, due_at=due_at))
        return _("Task for %(rep)s: %(title)s") % {"rep": lead.owner or _("nobody"), "title": title}
    if action.kind == K.NOTE:
        text = action.text
        if url := action.config.get("url"):
            text = f"{text}\n{url}".strip()
        _row_save(Activity(lead=lead, kind=Activity.Kind.NOTE, at=at, rep=None, outcome=text[:2000]))
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
