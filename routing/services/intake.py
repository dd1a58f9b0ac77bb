"""Intake sources and their tokens, and the normalised copies of a lead's fields used for matching."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.text import email_domain, email_key, fold, postal_code_number
from routing.models import IntakeSource, Lead

TOKEN_PREFIX = "lr_"
# `last_used_at` is kept to the minute: one UPDATE a minute per source at most, not one per request.
LAST_USED_PRECISION = timedelta(minutes=1)


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


@transaction.atomic
def intake_source_revoke(*, source: IntakeSource) -> None:
    IntakeSource.objects.filter(pk=source.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def intake_source_touch(*, source: IntakeSource, now: datetime | None = None) -> bool:
    """Note that the source's token was just used (`last_used_at`, shown in the admin); True when it wrote.

    Throttled so intake stays cheap: nothing is written while the stored time is under `LAST_USED_PRECISION`
    old (no statement at all, judged by the row the API just read), and the UPDATE itself is conditional, so
    concurrent requests never move the time backwards. The API calls it before the intake transaction, so the
    short UPDATE never holds the source's row lock for the length of an intake."""
    now = now or timezone.now()
    if source.last_used_at is not None and now - source.last_used_at < LAST_USED_PRECISION:
        return False  # before any transaction: SQLite would BEGIN IMMEDIATE (and COMMIT) for nothing
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
    with transaction.atomic():
        written = IntakeSource.objects.filter(stale, pk=source.pk).update(last_used_at=now) > 0
    if written:
        source.last_used_at = now
    return written


def lead_normalise(lead: Lead) -> Lead:
    """Fill the normalised copies used for matching (domain, region and city keys, postal code number)."""
    # Lower-casing and folding can lengthen text ("ß" -> "ss", "İ" -> "i̇"): keys are cut to their columns.
    lead.email_domain = email_domain(lead.email)[:253]
    lead.email_key = email_key(lead.email)[:254]
    lead.region_key = fold(lead.region)[:100]
    lead.city_key = fold(lead.city)[:100]
    lead.postal_code_num = postal_code_number(lead.postal_code)
    return lead
