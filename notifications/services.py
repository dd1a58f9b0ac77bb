"""Writes of the notifications app: messages go into the outbox in the caller's transaction."""

from django.db import transaction

from notifications.models import Channel, OutboxMessage
from reps.models import Rep
from routing.models import Lead, LeadEvent, Rule


def message_enqueue(
    *, lead: Lead | None, event_key: str, channel: Channel | None, recipient: str, subject: str = "", body: str = "", payload: dict | None = None
) -> OutboxMessage | None:
    """One outbox row per (lead, event, channel, recipient): a repeated call adds nothing."""
    key = f"{lead.pk if lead else '-'}:{event_key}:{channel.pk if channel else 'email'}:{recipient}"[:255]
    message, created = OutboxMessage.objects.get_or_create(
        key=key,
        defaults={"lead": lead, "channel": channel, "recipient": recipient, "subject": subject, "body": body, "payload": payload or {}},
    )
    return message if created else None


@transaction.atomic
def rule_actions_carry_out(*, lead: Lead, rule: Rule, event: LeadEvent) -> None:
    """Carry out the matched rule's actions for a freshly routed lead."""
    raise NotImplementedError  # owned by the notifications work (issue 5)


@transaction.atomic
def escalation_notify(*, lead: Lead, kind: str, rep: Rep | None, channel: Channel | None, event: LeadEvent) -> None:
    """Tell `rep` (or `channel`) about an SLA step: kind is remind / reassigned / alert_team_lead / notify_channel."""
    raise NotImplementedError  # owned by the notifications work (issue 5)


@transaction.atomic
def lead_autorespond(*, lead: Lead, template: str, context: dict, event_key: str) -> None:
    """E-mail the lead itself (after-hours notice, thank-you) in the lead's language."""
    raise NotImplementedError  # owned by the notifications work (issue 5)
