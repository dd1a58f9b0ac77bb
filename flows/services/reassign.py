"""The manager's hand: move a lead to a rep or back into a pool, route it again through the current rules, or rescue
a lead the rules disqualified. Each writes one `reassigned` event carrying the reason and who did it, and tells the
new owner (`notifications.services.owner_notify`, as after every assignment).

Names stay in the nominative in every line ("Przekazano: Marek Zieliński → Ola Kowalczyk"), never glued into a
sentence that would need declension.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from core.messages import dump_lines
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from notifications.services import OwnerReason, owner_notify
from reps.models import Pool, Rep
from reps.services import pool_pick_rep
from routing.models import Lead, LeadEvent
from routing.services.assignment import lead_route
from sla.services import lead_sla_start


def _who(user: AbstractBaseUser | None) -> str:
    if user is None:
        return ""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or getattr(user, "username", "") or str(user)


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason: the owner and the history show it.")})
    return reason[:500]


def _event(*, lead: Lead, previous: Rep | None, now: datetime, by: AbstractBaseUser | None, reason: str, how: str, lines: list[str] | None = None) -> LeadEvent:
    """The `reassigned` event (the history line names people in the nominative) and the new owner's notification."""
    new = lead.owner
    before = previous.name if previous else _("nobody")
    after = new.name if new else _("nobody")
    detail = _("Owner: %(old)s → %(new)s (%(by)s). Reason: %(reason)s") % {"old": before, "new": after, "by": _who(by) or "—", "reason": reason}
    event = LeadEvent.objects.create(
        lead=lead,
        type=LeadEvent.Type.REASSIGNED,
        at=now,
        rep=new,
        detail=detail,
        data={
            "by_hand": how,
            "by": _who(by),
            "by_user_id": getattr(by, "pk", None),
            "reason": reason,
            "from_rep_id": previous.pk if previous else None,
            "to_rep_id": new.pk if new else None,
            "pool_id": lead.pool_id,
            "lines": dump_lines(lines or []),
        },
    )
    if new is not None and new != previous:
        owner_notify(lead=lead, event=event, reason=OwnerReason.BY_HAND)
    return event


def _give(*, lead: Lead, rep: Rep | None, now: datetime, pool: Pool | None = None) -> None:
    lead.owner = rep
    fields = ["owner", "status", "needs_attention"]
    if rep is not None:
        if lead.status in (Lead.Status.UNASSIGNED, Lead.Status.DISQUALIFIED):
            lead.status = Lead.Status.ASSIGNED
        lead.needs_attention = False
        if lead.assigned_at is None:
            lead.assigned_at = now  # the rep's delay counts from the first assignment
            fields.append("assigned_at")
    else:
        lead.status = Lead.Status.UNASSIGNED
        lead.needs_attention = True
    if pool is not None:
        lead.pool = pool
        fields.append("pool")
    lead.save(update_fields=fields)


@transaction.atomic
def lead_reassign(*, lead: Lead, to_rep: Rep | None = None, to_pool: Pool | None = None, by: AbstractBaseUser | None, reason: str, now: datetime) -> LeadEvent:
    """Give the lead to `to_rep`, or back into `to_pool` (its next rep in turn, never the current owner; when nobody
    in the pool can take it, it waits there unassigned and flagged). Writes a `reassigned` event with the reason and
    tells the new owner."""
    reason = _clean_reason(reason)
    if (to_rep is None) == (to_pool is None):
        raise ValidationError(_("Choose either a rep or a pool."))
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead.pk)
    previous = lead.owner
    lines: list[str] = []
    if to_rep is not None:
        if not to_rep.is_active:
            raise ValidationError({"to_rep": _("%(rep)s is not active.") % {"rep": to_rep.name}})
        _give(lead=lead, rep=to_rep, now=now)
    else:
        exclude = frozenset({previous.pk}) if previous else frozenset()
        rep, lines = pool_pick_rep(pool=to_pool, now=now, exclude=exclude)
        _give(lead=lead, rep=rep, now=now, pool=to_pool)
    return _event(lead=lead, previous=previous, now=now, by=by, reason=reason, how="pool" if to_pool else "rep", lines=lines)


@transaction.atomic
def lead_reroute(*, lead: Lead, by: AbstractBaseUser | None, reason: str, now: datetime) -> LeadEvent:
    """Route the lead again through the current rules (a rule was fixed, a rep is back): new owner, pool, rule and
    explanation, the SLA terms recomputed (the deadline keeps counting from submission). Returns the `reassigned`
    event; the router's own assigned / disqualified / unassigned event is written before it."""
    reason = _clean_reason(reason)
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead.pk)
    previous = lead.owner
    lead_route(lead=lead, now=now)
    if lead.first_response_at is None and lead.status != Lead.Status.DISQUALIFIED:
        lead_sla_start(lead=lead, now=now)
    return _event(lead=lead, previous=previous, now=now, by=by, reason=reason, how="reroute", lines=list(lead.explanation or []))


@transaction.atomic
def lead_rescue(*, lead: Lead, to_rep: Rep | None = None, by: AbstractBaseUser | None, reason: str, now: datetime) -> LeadEvent:
    """A lead the rules disqualified by mistake: to `to_rep`, or back through routing. If the rules would disqualify
    it again, nothing changes and the manager is asked to choose a rep."""
    reason = _clean_reason(reason)
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead.pk)
    if lead.status != Lead.Status.DISQUALIFIED:
        raise ValidationError(_("Only a disqualified lead can be rescued."))
    previous = lead.owner
    if to_rep is not None:
        if not to_rep.is_active:
            raise ValidationError({"to_rep": _("%(rep)s is not active.") % {"rep": to_rep.name}})
        _give(lead=lead, rep=to_rep, now=now)
        lines: list[str] = []
    else:
        lead_route(lead=lead, now=now)
        if lead.status == Lead.Status.DISQUALIFIED:  # raising rolls the new routing back
            raise ValidationError(_("The rules disqualify this lead again: choose a rep for it."))
        lines = list(lead.explanation or [])
    if lead.first_response_at is None:
        lead_sla_start(lead=lead, now=now)
    return _event(lead=lead, previous=previous, now=now, by=by, reason=reason, how="rescue", lines=lines)
