"""Intake: sources and their tokens, taking in a lead, logging activities."""

import hashlib
import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from leadrouter.text import email_domain, fold, postal_code_number
from routing.models import Activity, IntakeSource, Lead, LeadEvent

TOKEN_PREFIX = "lr_"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def intake_source_create(*, name: str, reads_all_leads: bool = False, honeypot_field: str = "") -> tuple[IntakeSource, str]:
    """A new intake source and its raw token; only the token's hash is kept, so the raw one is shown once."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    source = IntakeSource.objects.create(
        name=name, token_hash=token_hash(raw), token_prefix=raw[:10], reads_all_leads=reads_all_leads, honeypot_field=honeypot_field
    )
    return source, raw


@transaction.atomic
def intake_source_rotate(*, source: IntakeSource) -> str:
    """Replace the source's token (the old one stops working at once); returns the new raw token."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    source.token_hash, source.token_prefix, source.revoked_at = token_hash(raw), raw[:10], None
    source.save(update_fields=["token_hash", "token_prefix", "revoked_at"])
    return raw


def intake_source_revoke(*, source: IntakeSource) -> None:
    IntakeSource.objects.filter(pk=source.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def lead_normalise(lead: Lead) -> Lead:
    """Fill the normalised copies used for matching (domain, region and city keys, postal code number)."""
    # Lower-casing and folding can lengthen text ("ß" -> "ss", "İ" -> "i̇"): keys are cut to their columns.
    lead.email_domain = email_domain(lead.email)[:253]
    lead.email_key = lead.email.strip().lower()[:254]
    lead.region_key = fold(lead.region)[:100]
    lead.city_key = fold(lead.city)[:100]
    lead.postal_code_num = postal_code_number(lead.postal_code)
    return lead


class ActivityRefused(ValueError):
    """An activity that cannot be logged; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
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


@transaction.atomic
def lead_create(*, source: IntakeSource, fields: dict, idempotency_key: str | None = None, now: datetime | None = None) -> tuple[Lead, bool]:
    """Take in one lead: store it, route it, start its SLA clock and queue the rule's actions.

    Returns (lead, created). A retry (same Idempotency-Key or external_id from the same source) returns the
    earlier lead and changes nothing. Two concurrent retries are settled by the unique constraints, not by
    the read below: the loser's insert fails and it returns the winner's lead.
    """
    from notifications.services import rule_actions_carry_out
    from routing.services.assignment import lead_route
    from sla.services import lead_sla_start

    now = now or timezone.now()
    existing = _lead_by_retry_key(source=source, idempotency_key=idempotency_key, external_id=fields.get("external_id"))
    if existing:
        return existing, False

    lead = lead_normalise(Lead(intake_source=source, idempotency_key=idempotency_key or None, received_at=now, **fields))
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError:
        existing = _lead_by_retry_key(source=source, idempotency_key=idempotency_key, external_id=fields.get("external_id"))
        if existing is None:
            raise
        return existing, False

    LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.RECEIVED, at=now, detail=f"via {source.name}")
    event = lead_route(lead=lead, now=now)
    lead_sla_start(lead=lead, now=now)
    if lead.rule_id is not None:
        rule_actions_carry_out(lead=lead, rule=lead.rule, event=event)
    return lead, True


@transaction.atomic
def activity_log(*, lead: Lead, kind: str, at: datetime, rep_email: str | None = None, outcome: str = "") -> Activity:
    """Log a call, e-mail, meeting or note. The first call / e-mail / meeting is the first response: it stops the clock."""
    from reps.models import Rep
    from sla.services import lead_sla_stop

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
    LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ACTIVITY, at=at, rep=rep, detail=f"{activity.get_kind_display()}: {outcome}".strip(": "))
    if kind in Activity.RESPONSE_KINDS and lead.first_response_at is None:
        lead.first_response_at = at
        lead.status = Lead.Status.CONTACTED
        lead.save(update_fields=["first_response_at", "status"])
        LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.FIRST_RESPONSE, at=at, rep=rep, detail=activity.get_kind_display())
        lead_sla_stop(lead=lead, at=at)
    return activity
