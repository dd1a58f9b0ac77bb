"""Assignment: which rep gets a lead, and why (routing proper; the decision itself is core.engine's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import engine
from reps.models import Pool, Rep
from reps.selectors import on_duty_rep, reps_unavailable
from reps.services import pool_pick_rep
from routing.models import Lead, LeadEvent, Rule
from routing.ruleset import lead_facts, ruleset_active


@dataclass
class _Outcome:
    status: str = Lead.Status.UNASSIGNED
    owner: Rep | None = None
    pool: Pool | None = None
    rule: Rule | None = None
    needs_attention: bool = False
    lines: list[str] = field(default_factory=list)


class _Router:
    """One routing pass. With `preview`, the same answer with no write and no lock."""

    def __init__(self, *, now: datetime, preview: bool):
        self.now = now
        self.preview = preview
        self.day = timezone.localdate(now) if timezone.is_aware(now) else now.date()
        self.out = _Outcome()
        self._fallback_tried = False

    # Targets -------------------------------------------------------------------------------------

    def direct(self, rep_id: int | None, *, who: str) -> None:
        """A named rep; when unavailable, the on-duty rep of the day, else the fallback pool."""
        rep = Rep.objects.filter(pk=rep_id).first() if rep_id is not None else None
        if rep is None:
            self.out.lines.append(_("%(who)s no longer exists: the lead goes to the fallback pool.") % {"who": who})
            self.fallback_pool()
            return
        reason = reps_unavailable(reps=[rep], on=self.day).get(rep.pk)
        if reason is None:
            self.assign(rep)
            return
        self.out.lines.append(_("%(who)s %(rep)s is %(reason)s: the lead goes to the on-duty rep.") % {"who": who, "rep": rep.name, "reason": reason})
        duty = on_duty_rep(on=self.day)
        if duty is None:
            self.out.lines.append(_("Nobody is on duty on %(day)s: the lead goes to the fallback pool.") % {"day": self.day.isoformat()})
            self.fallback_pool()
            return
        duty_reason = reason if duty.pk == rep.pk else reps_unavailable(reps=[duty], on=self.day).get(duty.pk)
        if duty_reason:
            self.out.lines.append(
                _("The on-duty rep %(rep)s is %(reason)s too: the lead goes to the fallback pool.") % {"rep": duty.name, "reason": duty_reason}
            )
            self.fallback_pool()
            return
        self.out.lines.append(_("On duty on %(day)s: %(rep)s.") % {"day": self.day.isoformat(), "rep": duty.name})
        self.assign(duty)

    def pool(self, pool_id: int | None) -> None:
        """Round robin in a pool; when nobody in it can take the lead, the fallback pool."""
        pool = Pool.objects.filter(pk=pool_id).first() if pool_id is not None else None
        if pool is None:
            self.out.lines.append(_("The rule's pool no longer exists: the lead goes to the fallback pool."))
            self.fallback_pool()
            return
        rep, lines = pool_pick_rep(pool=pool, now=self.now, preview=self.preview)
        self.out.lines.extend(lines)
        if rep is not None:
            self.out.pool = pool
            self.assign(rep)
            return
        if pool.is_fallback:
            self._fallback_tried = True
            self.leave_unassigned()
            return
        self.out.lines.append(_("Nobody in %(pool)s can take the lead: it goes to the fallback pool.") % {"pool": pool.name})
        self.fallback_pool()

    def fallback_pool(self) -> None:
        if self._fallback_tried:
            self.leave_unassigned()
            return
        self._fallback_tried = True
        pool = Pool.objects.filter(is_fallback=True).first()
        if pool is None:
            self.out.lines.append(_("No fallback pool is configured."))
            self.leave_unassigned()
            return
        rep, lines = pool_pick_rep(pool=pool, now=self.now, preview=self.preview)
        self.out.lines.extend(lines)
        if rep is None:
            self.leave_unassigned()
            return
        self.out.pool = pool
        self.assign(rep)

    # Endings ------------------------------------------------------------------------------------

    def assign(self, rep: Rep) -> None:
        self.out.status, self.out.owner, self.out.needs_attention = Lead.Status.ASSIGNED, rep, False
        self.out.lines.append(_("Assigned to %(rep)s.") % {"rep": rep.name})

    def disqualify(self) -> None:
        self.out.status, self.out.owner, self.out.pool, self.out.needs_attention = Lead.Status.DISQUALIFIED, None, None, False
        self.out.lines.append(_("Disqualified: nobody is assigned."))

    def leave_unassigned(self) -> None:
        self.out.status, self.out.owner, self.out.needs_attention = Lead.Status.UNASSIGNED, None, True
        self.out.lines.append(_("Nobody is available, not even in the fallback pool: the lead is left unassigned for the manager."))

    # The pass -----------------------------------------------------------------------------------

    def route(self, lead: Lead) -> _Outcome:
        facts = lead_facts(lead)
        decision = engine.decide(ruleset_active(), facts)
        self.out.lines.extend(decision.explanation)
        rule = decision.rule
        if rule is None:
            self.fallback_pool()
            return self.out
        # all_tables: a publish may have archived this rule a moment ago; the lead still records it.
        self.out.rule = Rule.all_tables.filter(pk=rule.id).first()
        target = rule.target
        # decide() only picks a rule whose target exists in the facts (engine.target_missing).
        if target == engine.TARGET_NOBODY:
            self.disqualify()
        elif target == engine.TARGET_REP:
            self.direct(rule.target_rep_id, who=_("The rule's rep"))
        elif target == engine.TARGET_POOL:
            self.pool(rule.target_pool_id)
        elif target == engine.TARGET_TERRITORY and facts.territory is not None:
            if facts.territory.owner_rep_id is not None:
                self.direct(facts.territory.owner_rep_id, who=_("The territory's owner"))
            else:
                self.pool(facts.territory.owner_pool_id)
        elif target == engine.TARGET_ACCOUNT_MANAGER and facts.account is not None:
            self.direct(facts.account.manager_id, who=_("The account manager"))
        elif target == engine.TARGET_PREVIOUS_OWNER and facts.repeat is not None:
            self.direct(facts.repeat.previous_owner_id, who=_("The previous owner"))
        else:
            self.fallback_pool()
        return self.out


def _apply(lead: Lead, out: _Outcome) -> None:
    lead.status = out.status
    lead.owner = out.owner
    lead.pool = out.pool
    lead.rule = out.rule
    lead.needs_attention = out.needs_attention
    lead.explanation = list(out.lines)


@transaction.atomic
def lead_route(*, lead: Lead, now: datetime) -> LeadEvent:
    """Route a stored lead: owner, status, rule, pool, explanation and timings, the matched rule's hit count,
    and the assigned / disqualified / unassigned event, which is returned (the rule's actions hang off it)."""
    out = _Router(now=now, preview=False).route(lead)
    _apply(lead, out)
    if out.owner is not None:
        lead.assigned_at = now
        lead.system_delay_seconds = max(0, round((now - lead.submitted_at).total_seconds())) if lead.submitted_at else None
    else:
        lead.assigned_at = None
        lead.system_delay_seconds = None
    lead.save(update_fields=["status", "owner", "pool", "rule", "needs_attention", "explanation", "assigned_at", "system_delay_seconds"])
    if out.rule is not None:
        # After commit, in its own short statement: an UPDATE here would hold the rule's row lock for the whole
        # intake transaction and queue every concurrent lead matching the same rule behind it. F(): concurrent
        # hits are not lost; update() leaves updated_at alone, so a hit does not invalidate the compiled rule set.
        rule_id = out.rule.pk
        transaction.on_commit(lambda: Rule.all_tables.filter(pk=rule_id).update(hits=F("hits") + 1, last_hit_at=now))

    rule_name = out.rule.name if out.rule else None
    if out.status == Lead.Status.ASSIGNED:
        kind = LeadEvent.Type.ASSIGNED
        if rule_name:
            detail = _("Assigned to %(rep)s by the rule “%(rule)s”") % {"rep": out.owner.name, "rule": rule_name}
        else:
            detail = _("Assigned to %(rep)s by the fallback pool") % {"rep": out.owner.name}
    elif out.status == Lead.Status.DISQUALIFIED:
        kind = LeadEvent.Type.DISQUALIFIED
        detail = _("Disqualified by the rule “%(rule)s”") % {"rule": rule_name}
    else:
        kind = LeadEvent.Type.UNASSIGNED
        detail = _("Nobody could be assigned, not even by the fallback pool")
    return LeadEvent.objects.create(
        lead=lead,
        type=kind,
        at=now,
        rep=out.owner,
        detail=detail,
        data={"rule_id": out.rule.pk if out.rule else None, "pool_id": out.pool.pk if out.pool else None},
    )


def lead_preview(*, lead: Lead, now: datetime) -> None:
    """Fill owner, status, rule, pool, explanation and needs_attention of an unsaved lead as routing it now would,
    writing nothing: no pointer, cap or hit count moves."""
    out = _Router(now=now, preview=True).route(lead)
    _apply(lead, out)
