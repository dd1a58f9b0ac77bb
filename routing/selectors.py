"""Reads of the routing app: leads as the API shows them, a rep's own leads, token lookup, and the one home of
three questions about a lead that routing, SLA and notifications all ask:

- earlier leads of the same person (`lead_repeat`, `leads_earlier`): same `email_key`, stored before the lead
  (lower id), newest first, at most `REPEAT_LOOKBACK`; the lead itself is never one of them;
- the language we write to the lead in (`lead_language`);
- the explanation and history lines as the reader reads them (`explanation_lines`, `event_detail`: in the active
  language; stored as message codes, `core.messages`, or as plain text in old rows);
- (the account of a lead's e-mail domain is `reps.selectors.account_for_domain`, carried in the lead's facts).

Nothing here writes (a token's `last_used_at` is `routing.services.intake.intake_source_touch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import F, Prefetch, QuerySet

from core import facts, messages
from core.engine import LeadFacts, RepeatFact
from core.text import email_key
from reps.models import Rep
from reps.selectors import FACT_ROW, fact_row_columns
from routing.models import IntakeSource, Lead, LeadEvent
from routing.services.intake import token_hash

# How many earlier leads with the same e-mail a repeat lead's facts carry (the repeat-lead notice links them all).
REPEAT_LOOKBACK = 20
# Languages we write to leads in (templates exist for these); anything else gets the site's language.
LEAD_LANGUAGES = ("pl", "en", "de")


def intake_source_for_token(*, raw_token: str) -> IntakeSource | None:
    """The active source whose token this is; None for unknown or revoked tokens. Reads only."""
    if not raw_token or len(raw_token) > 200:
        return None
    return IntakeSource.objects.filter(token_hash=token_hash(raw_token), revoked_at__isnull=True).first()


def _events() -> Prefetch:
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
        qs = qs.filter(email_key=email_key(email))
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return qs


def leads_for_rep(*, rep: Rep, include_closed: bool = False) -> QuerySet[Lead]:
    """A rep's own leads: open ones first by deadline, then the rest newest first."""
    qs = Lead.objects.filter(owner=rep).select_related("rule", "sla_policy")
    if not include_closed:
        qs = qs.filter(status=Lead.Status.ASSIGNED)
    return qs.order_by("sla_due_at", "-received_at")


# ---------------------------------------------------------------------------------------------- one home per concept


KIND_REPEAT = "repeat"


def lead_repeat_rows(*, lead: Lead) -> QuerySet | None:
    """The rows the repeat fact is read from, in the facts' row shape (reps.selectors.FACT_ROW: repeat, lead id, owner
    id, "", ""): the same e-mail address (`email_key`), stored before this lead (a saved lead's own id and later ones
    are left out; an unsaved one sees every stored lead), the newest `REPEAT_LOOKBACK`. None without an e-mail. The
    limit sits in a subquery, so intake can read these in one union with the domain's rows (routing.ruleset)."""
    return lead_repeat_query(key=lead.email_key or email_key(lead.email), before_id=lead.pk)


def lead_repeat_query(*, key: str, before_id: int | None) -> QuerySet | None:
    """`lead_repeat_rows` by the address's `email_key` and the id the earlier leads are below (None: all); values
    only as filters, so the query can be compiled once per shape (core.compiled_sql)."""
    if not key:
        return None
    earlier = Lead.objects.filter(email_key=key)
    if before_id is not None:
        earlier = earlier.filter(pk__lt=before_id)
    newest = earlier.order_by("-id").values("id")[:REPEAT_LOOKBACK]
    return Lead.objects.filter(pk__in=newest).order_by().annotate(**fact_row_columns(KIND_REPEAT, F("id"), F("owner_id"))).values_list(*FACT_ROW)


def lead_repeat_read(rows: Iterable[tuple]) -> RepeatFact | None:
    """The repeat fact from its rows: earlier leads newest first; the previous owner is the owner of the newest one
    that had an owner."""
    return facts.repeat_from(sorted(((row[1], row[2]) for row in rows if row[0] == KIND_REPEAT), reverse=True))


def lead_repeat(*, lead: Lead) -> RepeatFact | None:
    """Earlier leads of the same person (`lead_repeat_rows`), newest first, at most `REPEAT_LOOKBACK`. One indexed query."""
    rows = lead_repeat_rows(lead=lead)
    return lead_repeat_read(rows) if rows is not None else None


def leads_earlier(*, lead: Lead, facts: LeadFacts | None = None) -> list[Lead]:
    """The earlier leads of `lead_repeat` as rows (with their owners), newest first, for the repeat-lead notice.

    With `facts` (routing's, computed once at intake) their `repeat` is used as it is, so the notice lists exactly
    the leads routing saw; without, they are looked up here."""
    repeat = facts.repeat if facts is not None else lead_repeat(lead=lead)
    if repeat is None or not repeat.earlier_lead_ids:
        return []
    by_id = Lead.objects.select_related("owner").in_bulk(repeat.earlier_lead_ids)
    return [by_id[lead_id] for lead_id in repeat.earlier_lead_ids if lead_id in by_id]


def lead_language(lead: Lead) -> str:
    """The language we write to the lead in: theirs when we have templates for it ("pl", "en", "de"), else the
    site's (`LANGUAGE_CODE`)."""
    language = (lead.language or "").strip().lower()
    return language if language in LEAD_LANGUAGES else settings.LANGUAGE_CODE


def explanation_lines(lead: Lead) -> list[str]:
    """The lead's "why", one text per line, in the active language (the reader's); old plain lines as they are."""
    return [messages.render(line) for line in lead.explanation or []]


def event_detail(event: LeadEvent) -> str:
    """A history line's detail in the active language (the reader's); an event written as plain text as it is."""
    return messages.render(event.detail_message) if event.detail_message else event.detail


# ---------------------------------------------------------------------------------------------- the API's shape


def _iso(value: datetime | None) -> str | None:
    """In UTC, as the database gives it back: a lead answered from memory reads exactly as one read back later."""
    return value.astimezone(UTC).isoformat() if value else None


def lead_events_known(lead: Lead) -> list[LeadEvent]:
    """The lead's history: the lines intake has just written, held on the instance (no query to read them back,
    `flows.services.leads.lead_create`), else as stored (prefetched by `lead_get`)."""
    written = getattr(lead, "_events_written", None)
    if written is not None:
        return sorted(written, key=lambda event: (event.at, event.pk))
    return list(lead.events.all())


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
        "explanation": explanation_lines(lead),
        "score": lead.score,
        "score_breakdown": list(lead.score_breakdown or []),
    }
    if preview:
        del data["id"]
        return data
    data["events"] = [
        {"type": event.type, "at": _iso(event.at), "rep": event.rep.email if event.rep_id else None, "detail": event_detail(event)}
        for event in lead_events_known(lead)
    ]
    return data
