"""Writes of the notifications app: messages go into the outbox in the caller's transaction.

Notifications only send: the lead's own data (tasks, notes, tags, closing it) is routing's
(`routing.services.actions`); the lead's history lines go through `routing.services.actions.lead_history_add`.
Nothing here talks to the network. Each message is an `OutboxMessage` row with a unique key
(lead:event:channel:recipient), written in the transaction of the event that caused it; after commit a
django-q2 task is enqueued to send it (`notifications.tasks.outbox_send`). If the transaction rolls back,
neither the row nor the task exist. At intake (and in the SLA sweep, per chunk of leads) the rows wait in the open row
batch (`routing.batch`) and go in one INSERT per table.

Over 500 lines on purpose: every message the product sends to a person is composed and queued here (a rule's
notify / e-mail / webhook, an SLA step, the owner's notice, the team leads' alert, the lead's own e-mail, a test
post), on one set of helpers (routes, payloads, dedupe keys, the history line). Split by sender, each part would
need the same helpers and a reader would chase one message across modules.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation

from core.engine import AccountFact, LeadFacts
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from notifications.messages import (
    Composed,
    internal_compose,
    lead_compose,
    lead_context,
    lead_display_fields,
    lead_url,
    priority_label,
    rep_lead_url,
    site_url,
)
from notifications.models import Channel, CompanyProfile, OutboxMessage
from notifications.selectors import Route, channel_default, channel_defaults, rep_routes
from reps.models import Rep
from reps.selectors import account_for_domain, team_leads
from routing.batch import batch_current
from routing.models import Lead, LeadEvent, Priority, Rule, RuleAction
from routing.selectors import leads_earlier
from routing.services.actions import RECORD_KINDS, action_key, actions_run_contained, event_at, lead_history_add, rule_action_failed, rule_actions_of

logger = logging.getLogger(__name__)

CHANNEL_ADDRESS = "channel"  # the recipient of a message posted to a channel itself (Slack, Teams, webhook)
ESCALATION_KINDS = ("remind", "reassigned", "alert_team_lead", "notify_channel", "late_arrival")  # late_arrival: sla.services.LATE_ARRIVAL
SEND_KINDS = (RuleAction.Kind.NOTIFY, RuleAction.Kind.EMAIL_LEAD, RuleAction.Kind.WEBHOOK)  # the rule actions that send


def message_enqueue(
    *,
    lead: Lead | None,
    event_key: str,
    channel: Channel | None,
    recipient: str,
    subject: str = "",
    body: str = "",
    payload: dict | None = None,
    template: str = "",
    key: str | None = None,
    event: LeadEvent | None = None,
) -> OutboxMessage | None:
    """One outbox row per (lead, event, channel, recipient): a repeated call adds nothing and returns None.
    `key`: the dedupe key when it is not that (the owner's messages: one per event, channel kind and address,
    whoever queues it first, `owner_key`). `event`: the stored event the message is about, when its key names it."""
    key = (key or f"{lead.pk if lead else '-'}:{event_key}:{channel.pk if channel else 'email'}:{recipient}")[:255]
    # No get_or_create: its savepoint costs two round trips per message. The key names the event, so only a repeated
    # call (sequential: a retried task, a second run for the same event, the rule's owner notice and the default
    # one in the same transaction) can find a row already there. In intake's row batch (routing.batch) the lead was
    # stored in this very transaction: no row with its key can be in the database, the batch's memory answers. So
    # for a message keyed on an event the sweep stored in this transaction (`fresh_event_ids`).
    batch = batch_current()
    if batch is not None and not batch.claim(key):
        return None
    fresh = batch is not None and (
        (lead is not None and lead.pk in batch.fresh_lead_ids) or (event is not None and event.pk is not None and event.pk in batch.fresh_event_ids)
    )
    if not fresh and OutboxMessage.objects.filter(key=key).exists():
        return None
    message = OutboxMessage(
        key=key, lead=lead, channel=channel, recipient=recipient[:254], subject=subject[:300], body=body, payload=payload or {}, template=template[:100]
    )
    from notifications.delivery import outbox_hand_over  # the delivery code is heavy; keep services light

    # Handed to the cluster once per transaction, after commit (all of the transaction's messages in one task):
    # sending never happens inside the request, and a rollback sends nothing.
    if batch is not None:
        batch.add(message)
        batch.after_insert.append(lambda: outbox_hand_over(message.pk))
        return message
    message.save(force_insert=True)
    outbox_hand_over(message.pk)
    return message


def _payload(
    *, lead: Lead, composed: Composed, route: Route, priority: str | None, extra: dict | None = None, language: str | None = None, url: str | None = None
) -> dict:
    # Internal cards: the site's language (or the one rep's own), whatever the request's.
    with translation.override(language or settings.LANGUAGE_CODE):
        payload = {
            "title": composed.subject,
            "text": composed.body,
            "priority": priority or "",
            "priority_label": priority_label(priority),
            "lead_id": lead.pk,
            "lead_url": url or lead_url(lead),
            "facts": [list(field) for field in lead_display_fields(lead)],
        }
    if route.rep is not None:
        payload["rep_email"] = route.rep.email
        payload["mention"] = route.rep.slack_member_id
    if extra:
        payload.update(extra)
    return payload


def _routes_enqueue(
    *,
    lead: Lead,
    event_key: str,
    routes: list[Route],
    composed: Composed,
    priority: str | None,
    extra: dict | None = None,
    key_for: Callable[[Route], str | None] | None = None,
    language: str | None = None,
    url: str | None = None,
    event: LeadEvent | None = None,
) -> list[OutboxMessage]:
    messages = []
    for route in routes:
        message = message_enqueue(
            lead=lead,
            event_key=event_key,
            channel=route.channel,
            recipient=route.address,
            subject=composed.subject,
            body=composed.body,
            payload=_payload(lead=lead, composed=composed, route=route, priority=priority, extra=extra, language=language, url=url),
            template=composed.template,
            key=key_for(route) if key_for is not None else None,
            event=event,
        )
        if message is not None:
            messages.append(message)
    return messages


def _channel_route(channel: Channel | None, *, rep: Rep | None = None) -> list[Route]:
    if channel is None or not channel.is_active:
        if channel is not None:
            logger.warning("channel %s is switched off; nothing posted to it", channel.pk)
        return []
    return [Route(channel=channel, address=CHANNEL_ADDRESS, rep=rep)]


def route_kind(route: Route) -> str:
    """The channel kind of a route (Django's e-mail backend without a channel is e-mail)."""
    return route.channel.kind if route.channel is not None else Channel.Kind.EMAIL


def owner_key(*, lead: Lead, event: LeadEvent, route: Route, purpose: str = "owner") -> str:
    """The dedupe key of a message to one person about an assignment: one per (lead, event, purpose, channel kind,
    address). The default owner notice and a rule action that notifies the owner share it, so whichever is queued
    first is the only one on that channel (a second e-mail to the same address for the same event is never sent)."""
    return f"{lead.pk}:e{event.pk}:{purpose}:{route_kind(route)}:{route.address}"[:255]


def _routes_describe(messages: list[OutboxMessage]) -> str:
    parts = []
    for message in messages:
        where = message.channel.name if message.channel else _("e-mail")
        parts.append(where if message.recipient == CHANNEL_ADDRESS else f"{message.recipient} ({where})")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------- rule actions


@transaction.atomic(savepoint=False)
def rule_messages_send(*, lead: Lead, rule: Rule | None, event: LeadEvent | None, facts: LeadFacts | None = None) -> None:
    """Queue the messages of the matched rule's actions for a freshly routed lead: notify, e-mail the lead, webhook.

    Only what sends: the actions that change the lead (task, note, tag, close) are routing's
    (`routing.services.actions.rule_actions_apply`). `facts`: the lead's facts as routing computed them; the
    account and the earlier leads in the messages come from them (looked up by the same selectors without).
    Each action runs in its own savepoint: a broken action (say, a channel deleted meanwhile) is logged in the
    lead's history and does not cost the lead itself. Calling this twice for the same event adds nothing (the
    outbox key is per event, action, channel and recipient).
    """
    if rule is None:
        return
    sending = []
    for action in rule_actions_of(rule):
        if action.kind not in SEND_KINDS:
            if action.kind not in RECORD_KINDS:
                logger.warning("unknown action kind %r (action %s)", action.kind, action.pk)
            continue
        sending.append(action)

    def failed(action: RuleAction, error: Exception) -> None:
        logger.error("action %s of rule %s failed for lead %s", action.pk, rule.pk, lead.pk, exc_info=error)
        rule_action_failed(lead=lead, action=action, event=event)

    # In intake's row batch (routing.batch) sending only adds rows to it: no savepoint needed to contain a failure.
    actions_run_contained(sending, lambda action: _action_send(lead=lead, action=action, event=event, facts=facts), failed, writes=batch_current() is None)


def _action_send(*, lead: Lead, action: RuleAction, event: LeadEvent | None, facts: LeadFacts | None) -> None:
    K = RuleAction.Kind
    if action.kind == K.NOTIFY:
        _action_notify(lead=lead, action=action, event=event, facts=facts)
    elif action.kind == K.EMAIL_LEAD:
        context = {**action.config, "config": action.config, "action": action}
        lead_autorespond(lead=lead, template=action.template, context=context, event_key=action_key(event=event, action=action))
    elif action.kind == K.WEBHOOK:
        _action_webhook(lead=lead, action=action, event=event, facts=facts)


def _action_recipient_routes(*, lead: Lead, action: RuleAction) -> list[Route]:
    R = RuleAction.Recipient
    channel = action.channel
    group_channel = channel is not None and channel.kind != Channel.Kind.EMAIL
    if action.recipient == R.OWNER:
        if not lead.owner_id:
            logger.info("lead %s has no owner: action %s notifies nobody", lead.pk, action.pk)
            return []
        return rep_routes(rep=lead.owner, channel=channel)
    if action.recipient == R.REP:
        return rep_routes(rep=action.recipient_rep, channel=channel) if action.recipient_rep_id else []
    if action.recipient in (R.TEAM_LEAD, R.MANAGEMENT) and not (action.recipient == R.MANAGEMENT and group_channel):
        return [route for rep in team_leads() for route in rep_routes(rep=rep, channel=channel)]
    if group_channel:
        return _channel_route(channel)
    # A channel recipient on e-mail, or no channel at all: management (the team leads) by e-mail.
    return [route for rep in team_leads() for route in rep_routes(rep=rep, channel=channel)]


def _action_context(*, lead: Lead, action: RuleAction, facts: LeadFacts | None) -> dict:
    def account() -> AccountFact | None:
        # The account routing matched (parent domains included: x@pl.hutastal.example is Huta Stal's).
        return facts.account if facts is not None else account_for_domain(domain=lead.email_domain)

    def earlier() -> list[dict]:
        return [{"lead": earlier, "url": lead_url(earlier)} for earlier in leads_earlier(lead=lead, facts=facts)]

    # Callables: the template engine calls them only if the template uses them.
    return lead_context(
        lead,
        priority=action.config.get("priority"),
        action=action,
        config=action.config,
        urgent=bool(action.config.get("urgent")),
        account=account,
        earlier_leads=earlier,
    )


def _action_notify(*, lead: Lead, action: RuleAction, event: LeadEvent | None, facts: LeadFacts | None) -> None:
    context = _action_context(lead=lead, action=action, facts=facts)
    composed = internal_compose(action.template, context)
    routes = _action_recipient_routes(lead=lead, action=action)

    def key_for(route: Route) -> str | None:
        # The owner reached personally: the owner notice's key, so `owner_notify` does not repeat that channel.
        if event is not None and lead.owner_id and route.rep is not None and route.rep.pk == lead.owner_id and route.address != CHANNEL_ADDRESS:
            return owner_key(lead=lead, event=event, route=route)
        return None

    messages = _routes_enqueue(
        lead=lead, event_key=action_key(event=event, action=action), routes=routes, composed=composed, priority=context["priority"], key_for=key_for
    )
    if messages:
        reps = {route.rep for route in routes if route.rep is not None}
        lead_history_add(
            lead=lead,
            type=LeadEvent.Type.NOTIFICATION,
            at=event_at(event),
            detail=_("Notification queued: %(subject)s → %(to)s") % {"subject": composed.subject, "to": _routes_describe(messages)},
            rep=reps.pop() if len(reps) == 1 else None,
            data={"event": event.pk if event else None, "action": action.pk},
            messages=messages,
        )


def _action_webhook(*, lead: Lead, action: RuleAction, event: LeadEvent | None, facts: LeadFacts | None) -> None:
    context = _action_context(lead=lead, action=action, facts=facts)
    composed = internal_compose(action.template, context)
    event_name = action.template or "lead.action"
    data = {
        "event": event_name,
        "lead": lead_json(lead),
        "rule": {"id": lead.rule_id, "name": lead.rule.name} if lead.rule_id else None,
        "options": {k: v for k, v in action.config.items() if isinstance(v, str | int | float | bool | None)},
    }
    messages = _routes_enqueue(
        lead=lead,
        event_key=action_key(event=event, action=action),
        routes=_channel_route(action.channel),
        composed=composed,
        priority=context["priority"],
        extra={"webhook": data},
    )
    if messages:
        lead_history_add(
            lead=lead,
            type=LeadEvent.Type.ACTION,
            at=event_at(event),
            detail=_("Webhook queued: %(event)s → %(to)s") % {"event": event_name, "to": _routes_describe(messages)},
            data={"event": event.pk if event else None, "action": action.pk, "kind": action.kind},
            messages=messages,
        )


def lead_json(lead: Lead) -> dict:
    """The lead as tools receive it in webhooks (the API's field names)."""
    return {
        "id": lead.pk,
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "job_title": lead.job_title,
        "phone": lead.phone,
        "city": lead.city,
        "company_size": lead.company_size,
        "industry": lead.industry,
        "region": lead.region,
        "postal_code": lead.postal_code,
        "country": lead.country,
        "language": lead.language,
        "source": lead.source,
        "status": lead.status,
        "priority": lead.priority,
        "owner": {"name": lead.owner.name, "email": lead.owner.email} if lead.owner_id else None,
        "submitted_at": lead.submitted_at.isoformat() if lead.submitted_at else None,
        "url": lead_url(lead),
        "extra": lead.extra,
    }


# ---------------------------------------------------------------------------------------------- SLA steps


@transaction.atomic(savepoint=False)  # the sweep's transaction: a failure here undoes the step too, never one alone
def escalation_notify(*, lead: Lead, kind: str, rep: Rep | None, channel: Channel | None, event: LeadEvent) -> None:
    """Tell `rep` (or `channel`) about an SLA step: kind is remind / reassigned / alert_team_lead / notify_channel.

    A step with a channel posts there (mentioning the rep when there is one); otherwise the rep is reached on
    every channel kind they asked for, e-mail at least. A team-lead alert without a rep goes to every team lead.
    """
    if kind not in ESCALATION_KINDS:
        logger.warning("unknown escalation kind %r for lead %s", kind, lead.pk)
    if kind == "reassigned" and rep is not None and rep.pk == lead.owner_id:
        # The new owner is told like after any assignment (one home: `owner_notify`).
        reason = OwnerReason.BY_HAND if isinstance(event.data, dict) and event.data.get("by_hand") else OwnerReason.SLA
        owner_notify(lead=lead, event=event, reason=reason, channel=channel)
        return
    if channel is not None and channel.kind != Channel.Kind.EMAIL:
        routes = _channel_route(channel, rep=rep)
    elif rep is not None:
        routes = rep_routes(rep=rep, channel=channel, every=channel is None)
    else:
        routes = [route for leader in team_leads() for route in rep_routes(rep=leader, channel=channel, every=channel is None)]
    if not routes:
        logger.warning("SLA step %s for lead %s reaches nobody", kind, lead.pk)
        return

    context = lead_context(lead, rep=rep, kind=kind, event=event, due_at=lead.sla_due_at)
    language, zone = rep_locale(rep)
    composed = internal_compose(kind, context, language=language, time_zone=zone)
    event_key = f"e{event.pk}" if event is not None else f"sla.{kind}"
    messages = _routes_enqueue(lead=lead, event_key=event_key, routes=routes, composed=composed, priority=lead.priority, language=language, event=event)
    if messages:
        lead_history_add(
            lead=lead,
            type=LeadEvent.Type.NOTIFICATION,
            at=event_at(event),
            detail=_("Notification queued: %(subject)s → %(to)s") % {"subject": composed.subject, "to": _routes_describe(messages)},
            rep=rep,
            data={"event": event.pk if event else None, "kind": kind},
            messages=messages,
        )


# ---------------------------------------------------------------------------------------------- the owner


class OwnerReason:
    """What placed the lead with its owner (the message's subject and why follow from it)."""

    ROUTED = "routed"  # intake: a rule (rep, pool, territory, account manager, previous owner), the fallback pool, the rep on duty
    SLA = "sla"  # the SLA's reassignment step
    BY_HAND = "by_hand"  # a manager (or team lead) moved it: reassign, re-route, rescue

    ALL = (ROUTED, SLA, BY_HAND)


def rep_locale(rep: Rep | None) -> tuple[str | None, str | None]:
    """(language, time zone) of messages to `rep`: the rep's own when set, else None (the site's)."""
    if rep is None:
        return None, None
    return rep.notify_language or None, rep.notify_time_zone or None


def owner_routes(*, rep: Rep, priority: str | None, defaults: dict[str, Channel]) -> list[Route]:
    """Where a rep hears of a lead given to them: e-mail always; for a critical lead also every other kind the rep
    asked for (`notify_via`: Slack, Teams, SMS), for any other lead only those also listed in `notify_noncritical`
    (by default chat yes, SMS no). `defaults`: `channel_defaults()`."""
    critical = priority == Priority.CRITICAL
    also = set(rep.notify_noncritical or [])
    routes = [
        route
        for route in rep_routes(rep=rep, every=True, defaults=defaults)
        if route_kind(route) == Channel.Kind.EMAIL or critical or route_kind(route) in also
    ]
    if rep.email and not any(route_kind(route) == Channel.Kind.EMAIL for route in routes):
        routes.insert(0, Route(channel=defaults.get(Channel.Kind.EMAIL), address=rep.email, rep=rep))
    return routes


def _owner_why(*, lead: Lead, reason: str, event: LeadEvent) -> str:
    """The one-line why, in the active language: the rule (or the fallback pool) and the resolver's last word."""
    if reason == OwnerReason.BY_HAND:
        data = event.data if isinstance(event.data, dict) else {}
        return _("Moved by %(by)s. Reason: %(reason)s") % {"by": data.get("by") or "—", "reason": data.get("reason") or "—"}
    if reason == OwnerReason.SLA:
        return _("Nobody answered this lead in time")
    # The explanation is the engine's lines (one per rule checked, each naming its rule in quotes) then the
    # resolver's (pools, reps skipped, the rep on duty, "Assigned to …"): the why is the resolver's part, or the
    # matched rule's line when the rule named the rep directly.
    lines = [str(line) for line in lead.explanation or []]
    cut = max((i for i, line in enumerate(lines) if "“" in line or "„" in line), default=-1)
    tail = lines[cut + 1 :]
    if lead.owner_id and tail:
        tail = tail[:-1]  # "Assigned to …": what the message itself says
    if tail:
        return " · ".join([_("Rule “%(rule)s”") % {"rule": lead.rule.name}, *tail] if lead.rule_id else tail)
    if cut >= 0:
        return lines[cut]
    return _("Rule “%(rule)s”") % {"rule": lead.rule.name} if lead.rule_id else _("No rule matched: the fallback pool")


def _person_notify(
    *, lead: Lead, rep: Rep, event: LeadEvent, template: str, purpose: str, context: dict, defaults: dict[str, Channel], extra_routes: list[Route] | None = None
) -> list[OutboxMessage]:
    """Queue one message to `rep` on their own channels (`owner_routes`) and, when something new was queued, write
    the `notification` event with rep = `rep`."""
    language, zone = rep_locale(rep)
    with translation.override(language or settings.LANGUAGE_CODE):
        why = _owner_why(lead=lead, reason=context.get("reason", OwnerReason.ROUTED), event=event)
    composed = internal_compose(template, {**context, "rep": rep, "why": why}, language=language, time_zone=zone)
    routes = [*owner_routes(rep=rep, priority=lead.priority, defaults=defaults), *(extra_routes or [])]
    messages = _routes_enqueue(
        lead=lead,
        event_key=f"e{event.pk}.{purpose}",
        routes=routes,
        composed=composed,
        priority=lead.priority,
        key_for=lambda route: owner_key(lead=lead, event=event, route=route, purpose=purpose) if route.address != CHANNEL_ADDRESS else None,
        language=language,
        url=context.get("rep_lead_url"),
        event=event,  # every key names it (`owner_key`, or "e<event>.<purpose>")
    )
    if messages:
        lead_history_add(
            lead=lead,
            type=LeadEvent.Type.NOTIFICATION,
            at=event_at(event),
            detail=_("Notification queued: %(subject)s → %(to)s") % {"subject": composed.subject, "to": _routes_describe(messages)},
            rep=rep,
            data={"event": event.pk, "kind": purpose, "reason": context.get("reason")},
            messages=messages,
        )
    return messages


@transaction.atomic(savepoint=False)  # its caller contains failures (intake: the row batch's mark)
def owner_notify(*, lead: Lead, event: LeadEvent, reason: str, facts: LeadFacts | None = None, channel: Channel | None = None) -> list[OutboxMessage]:
    """Tell the lead's (new) owner it is theirs, after every assignment, whatever placed it (`OwnerReason`).

    The message carries the lead's whole context (name, company, job title, phone, e-mail, message, source,
    priority, the SLA deadline in the rep's time zone), the one-line why and the link to the rep's page for the
    lead (/my-leads/<id>/), in the rep's language; it goes out on the rep's own channels (`owner_routes`).
    `event`: the assignment (assigned / reassigned) it follows; `facts`: routing's facts (the account's name
    without a query); `channel`: a chat channel to post to as well (an SLA step's).

    A channel the rule's own action already used to notify the owner for the same event is not used again (same
    dedupe key, `owner_key`), and calling this twice for the same event queues nothing new. Writes the
    `notification` event (rep = the owner) when a message was queued. Returns the messages queued.
    """
    rep = lead.owner
    if rep is None or event is None:
        return []
    if reason not in OwnerReason.ALL:
        logger.warning("unknown owner reason %r for lead %s", reason, lead.pk)
    extra = _channel_route(channel, rep=rep) if channel is not None and channel.kind != Channel.Kind.EMAIL else []
    context = lead_context(
        lead,
        event=event,
        reason=reason,
        rep_lead_url=rep_lead_url(lead),
        account=facts.account if facts is not None else None,
        due_at=lead.sla_due_at,
    )
    template = "new_owner" if reason == OwnerReason.ROUTED else "reassigned"
    return _person_notify(lead=lead, rep=rep, event=event, template=template, purpose="owner", context=context, defaults=channel_defaults(), extra_routes=extra)


@transaction.atomic(savepoint=False)
def lead_unassigned_alert(*, lead: Lead, event: LeadEvent, facts: LeadFacts | None = None) -> list[OutboxMessage]:
    """A lead nobody could take (no rule target, no pool, no fallback, no rep on duty available): every team lead
    is alerted at once, on their own channels (`owner_routes`), with the lead's context and the why. Calling it
    twice for the same event queues nothing new. Returns the messages queued."""
    leaders = team_leads()
    if not leaders:
        logger.warning("lead %s is unassigned and no team lead is set up to alert", lead.pk)
        return []
    defaults = channel_defaults()
    context = lead_context(lead, event=event, reason=OwnerReason.ROUTED, account=facts.account if facts is not None else None, due_at=lead.sla_due_at)
    messages: list[OutboxMessage] = []
    for leader in leaders:
        messages += _person_notify(lead=lead, rep=leader, event=event, template="unassigned", purpose="unassigned", context=context, defaults=defaults)
    return messages


# ---------------------------------------------------------------------------------------------- the lead


@transaction.atomic(savepoint=False)
def lead_autorespond(*, lead: Lead, template: str, context: dict, event_key: str) -> None:
    """E-mail the lead itself (after-hours notice, thank-you, e-books...) in the lead's language."""
    composed = lead_compose(template, lead, lead_context(lead, **context))
    route = Route(channel=channel_default(kind=Channel.Kind.EMAIL), address=lead.email)
    messages = _routes_enqueue(lead=lead, event_key=event_key, routes=[route], composed=composed, priority=lead.priority)
    if messages:
        lead_history_add(
            lead=lead,
            type=LeadEvent.Type.AUTORESPONSE,
            at=timezone.now(),
            detail=_("E-mail to the lead queued: %(subject)s") % {"subject": composed.subject},
            data={"template": template, "event_key": event_key},
            messages=messages,
        )


# ---------------------------------------------------------------------------------------------- the back office


@transaction.atomic
def outbox_resend(*, messages: QuerySet[OutboxMessage], now: datetime | None = None) -> int:
    """The manager's "send again": failed (and waiting) messages go back to the queue now; sent ones are left
    alone, so a message is never sent twice. Returns how many were queued."""
    from notifications.tasks import outbox_enqueue

    now = now or timezone.now()
    ids = list(messages.filter(status__in=[OutboxMessage.Status.FAILED, OutboxMessage.Status.PENDING]).values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids, status__in=[OutboxMessage.Status.FAILED, OutboxMessage.Status.PENDING]).update(
        status=OutboxMessage.Status.PENDING, next_attempt_at=now, retry_until=None
    )
    transaction.on_commit(partial(outbox_enqueue, message_ids=ids), robust=True)
    return len(ids)


@transaction.atomic
def channel_test_send(*, channel: Channel, requested_by: str, now: datetime | None = None) -> OutboxMessage | None:
    """A test message to the channel, through the outbox like any other (so it shows in the outbox list)."""
    now = now or timezone.now()
    composed = internal_compose("channel_test", {"channel": channel, "requested_by": requested_by, "site_url": site_url()})
    address = requested_by if channel.kind == Channel.Kind.EMAIL else CHANNEL_ADDRESS
    if channel.kind == Channel.Kind.SMS:
        address = channel.config.get("test_to", "")
        if not address:
            return None
    payload = {"title": composed.subject, "text": composed.body, "priority": "", "facts": [], "test": True}
    if channel.kind == Channel.Kind.WEBHOOK:
        payload["webhook"] = {"event": "test", "text": composed.body}
    return message_enqueue(
        lead=None,
        event_key=f"test.{now.strftime('%Y%m%dT%H%M%S.%f')}",
        channel=channel,
        recipient=address,
        subject=composed.subject,
        body=composed.body,
        payload=payload,
        template=composed.template,
    )


@transaction.atomic
def company_profile_set(*, name: str, website: str = "", phone: str = "") -> CompanyProfile:
    """Set who signs the messages to leads (the one company profile row, created when missing)."""
    profile, _created = CompanyProfile.objects.update_or_create(pk=CompanyProfile.SINGLETON_ID, defaults={"name": name, "website": website, "phone": phone})
    return profile
