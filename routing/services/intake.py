"""Intake sources and their tokens, and the normalised copies of a lead's fields used for matching."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from core.text import email_domain, fold, postal_code_number
from routing.models import IntakeSource, Lead

TOKEN_PREFIX = "lr_"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def intake_source_create(*, name: str, reads_all_leads: bool = False) -> tuple[IntakeSource, str]:
    """A new intake source and its raw token; only the token's hash is kept, so the raw one is shown once."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    source = IntakeSource.objects.create(name=name, token_hash=token_hash(raw), token_prefix=raw[:10], reads_all_leads=reads_all_leads)
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
