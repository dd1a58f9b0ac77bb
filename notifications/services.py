"""Writes of the notifications app: messages go into the outbox in the caller's transaction.

Notifications only send: the lead's own data (tasks, notes, tags, closing it) is routing's
(`routing.services.actions`); the lead's history lines go through `routing.services.actions.lead_history_add`.
Nothing here talks to the network. Each message is an `OutboxMessage` row with a unique key
(lead:event:channel:recipient), written in the transaction of the event that caused it; after commit a
django-q2 task is enqueued to send it (`notifications.tasks.outbox_send`). If the transaction rolls back,
neither the row nor the task exist.
"""

import logging
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation

from core.engine import AccountFact, LeadFacts
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from notifications.messages import Composed, internal_compose, lead_compose, lead_context, lead_display_fields, lead_url, priority_label, site_url
from notifications.models import Channel, CompanyProfile, OutboxMessage
from notifications.selectors import Route, channel_default, rep_routes
from reps.models import Rep
from reps.selectors import account_for_domain, team_leads
from routing.models import Lead, LeadEvent, Rule, RuleAction
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
) -> OutboxMessage | None:
    """One outbox row per (lead, event, channel, recipient): a repeated call adds nothing and returns None."""
    key = f"{lead.pk if lead else '-'}:{event_key}:{channel.pk if channel else 'email'}:{recipient}"[:255]
    # No get_or_create: its savepoint costs two round trips per message. The key names the event, so only a repeated
    # call (sequential: a retried task, a second run for the same event) can find a row already there.
    if OutboxMessage.objects.filter(key=key).exists():
        return None
    message = OutboxMessage.objects.create(
        key=key, lead=lead, channel=channel, recipient=recipient[:254], subject=subject[:300], body=body, payload=payload or {}, template=template[:100]
    )
    from notifications.delivery import outbox_hand_over  # the delivery code is heavy; keep services light

    # Handed to the cluster once per transaction, after commit (all of the transaction's messages in one task):
    # sending never happens inside the request, and a rollback sends nothing.
    outbox_hand_over(message.pk)
    return message


def _payload(*, lead: Lead, composed: Composed, route: Route, priority: str | None, extra: dict | None = None) -> dict:
    with translation.override(settings.LANGUAGE_CODE):  # internal cards: the site's language, whatever the request's
        payload = {
            "title": composed.subject,
            "text": composed.body,
            "priority": priority or "",
            "priority_label": priority_label(priority),
            "lead_id": lead.pk,
            "lead_url": lead_url(lead),
            "facts": [list(field) for field in lead_display_fields(lead)],
        }
    if route.rep is not None:
        payload["rep_email"] = route.rep.email
        payload["mention"] = route.rep.slack_member_id
    if extra:
        payload.update(extra)
    return payload


def _routes_enqueue(
    *, lead: Lead, event_key: str, routes: list[Route], composed: Composed, priority: str | None, extra: dict | None = None
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
            payload=_payload(lead=lead, composed=composed, route=route, priority=priority, extra=extra),
            template=composed.template,
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

    actions_run_contained(sending, lambda action: _action_send(lead=lead, action=action, event=event, facts=facts), failed)


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
    messages = _routes_enqueue(lead=lead, event_key=action_key(event=event, action=action), routes=routes, composed=composed, priority=context["priority"])
    if messages:
        reps = {route.rep for route in routes if route.rep is not None}
        lead_history_add(
            lead=lead,
            type=LeadEvent.Type.NOTIFICATION,
            at=event_at(event),
            detail=_("Notification queued: %(subject)s → %(to)s") % {"subject": composed.subject, "to": _routes_describe(messages)},
            rep=reps.pop() if len(reps) == 1 else None,
            data={"event": event.pk if event else None, "action": action.pk, "messages": [m.pk for m in messages]},
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
            data={"event": event.pk if event else None, "action": action.pk, "kind": action.kind, "messages": [m.pk for m in messages]},
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


@transaction.atomic
def escalation_notify(*, lead: Lead, kind: str, rep: Rep | None, channel: Channel | None, event: LeadEvent) -> None:
    """Tell `rep` (or `channel`) about an SLA step: kind is remind / reassigned / alert_team_lead / notify_channel.

    A step with a channel posts there (mentioning the rep when there is one); otherwise the rep is reached on
    every channel kind they asked for, e-mail at least. A team-lead alert without a rep goes to every team lead.
    """
    if kind not in ESCALATION_KINDS:
        logger.warning("unknown escalation kind %r for lead %s", kind, lead.pk)
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
    composed = internal_compose(kind, context)
    event_key = f"e{event.pk}" if event is not None else f"sla.{kind}"
    messages = _routes_enqueue(lead=lead, event_key=event_key, routes=routes, composed=composed, priority=lead.priority)
    if messages:
        lead_history_add(
            lead=lead,
            type=LeadEvent.Type.NOTIFICATION,
            at=event_at(event),
            detail=_("Notification queued: %(subject)s → %(to)s") % {"subject": composed.subject, "to": _routes_describe(messages)},
            rep=rep,
            data={"event": event.pk if event else None, "kind": kind, "messages": [m.pk for m in messages]},
        )


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
            data={"template": template, "event_key": event_key, "messages": [m.pk for m in messages]},
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
    profile, _created = CompanyProfile.objects.update_or_create(
        pk=CompanyProfile.SINGLETON_ID, defaults={"name": name, "website": website, "phone": phone}
    )
    return profile
