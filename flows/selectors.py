"""Reads that span apps."""

from __future__ import annotations

from datetime import datetime

from routing.models import Lead
from routing.services.assignment import lead_preview as routing_preview
from sla.selectors import SlaTerms, lead_sla_terms


def lead_preview(*, lead: Lead, now: datetime) -> SlaTerms | None:
    """What taking in this unsaved lead now would do, writing nothing (no pointer, cap or hit count moves): fills
    its routing fields (owner, status, rule, pool, explanation), priority and deadline; returns its SLA terms."""
    routing_preview(lead=lead, now=now)
    terms = lead_sla_terms(lead=lead, now=now)
    if terms is not None:
        lead.priority, lead.sla_due_at = terms.priority, terms.due_at
    return terms
