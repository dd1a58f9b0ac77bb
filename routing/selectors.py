"""Reads of the routing app: leads as the API shows them, a rep's own leads, token lookup."""

from datetime import timedelta

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from leadrouter.text import email_domain
from routing.models import IntakeSource, Lead, LeadEvent

LAST_USED_PRECISION = timedelta(minutes=1)


def intake_source_for_token(*, raw_token: str) -> IntakeSource | None:
    """The active source whose token this is; None for unknown or revoked tokens."""
    from routing.services.intake import token_hash

    if not raw_token or len(raw_token) > 200:
        return None
    source = IntakeSource.objects.filter(token_hash=token_hash(raw_token), revoked_at__isnull=True).first()
    if source is not None:
        now = timezone.now()
        # One write a minute at most, not one per request.
        if source.last_used_at is None or now - source.last_used_at > LAST_USED_PRECISION:
            IntakeSource.objects.filter(pk=source.pk).update(last_used_at=now)
    return source


def _events():
    return Prefetch("events", queryset=LeadEvent.objects.select_related("rep").order_by("at", "id"))


def lead_get(*, lead_id: int, source: IntakeSource | None = None) -> Lead | None:
    """One lead; with `source`, only if that source sent it in."""
    if not 0 < lead_id < 2**63:  # past a 64-bit id the database would raise, not answer "none"
        return None
    qs = Lead.objects.select_related("owner", "rule").prefetch_related(_events()).filter(pk=lead_id)
    if source is not None:
        qs = qs.filter(intake_source=source)
    return qs.first()


def leads_by_email(*, email: str | None, before_id: int | None = None, source: IntakeSource | None = None) -> QuerySet[Lead]:
    """Newest first; keyset-paginated by id; with `source`, only the leads that source sent in."""
    qs = Lead.objects.select_related("owner", "rule").prefetch_related(_events()).order_by("-id")
    if source is not None:
        qs = qs.filter(intake_source=source)
    if email:
        local, at, _domain = email.strip().rpartition("@")
        qs = qs.filter(email_key=f"{local}{at}{email_domain(email)}".lower() if at else email.strip().lower())
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return qs


def leads_for_rep(*, rep, include_closed: bool = False) -> QuerySet[Lead]:
    """A rep's own leads: open ones first by deadline, then the rest newest first."""
    qs = Lead.objects.filter(owner=rep).select_related("rule", "sla_policy")
    if not include_closed:
        qs = qs.filter(status=Lead.Status.ASSIGNED)
    return qs.order_by("sla_due_at", "-received_at")


def _iso(value):
    return value.isoformat() if value else None


def lead_representation(lead: Lead, *, preview: bool = False) -> dict:
    """The contract's lead representation; a preview has no id and no events."""
    data = {
        "id": lead.pk,
        "status": lead.status,
        "owner": {"name": lead.owner.name, "email": lead.owner.email} if lead.owner_id else None,
        "rule": {"id": lead.rule.pk, "name": lead.rule.name} if lead.rule_id else None,
        "priority": lead.priority or None,
        "submitted_at": _iso(lead.submitted_at),
        "received_at": _iso(lead.received_at),
        "sla_due_at": _iso(lead.sla_due_at),
        "first_response_at": _iso(lead.first_response_at),
        "explanation": list(lead.explanation or []),
    }
    if preview:
        del data["id"]
        return data
    data["events"] = [
        {"type": event.type, "at": _iso(event.at), "rep": event.rep.email if event.rep_id else None, "detail": event.detail}
        for event in lead.events.all()
    ]
    return data
