"""Assignment: which rep gets a lead, and why, written onto the lead.

core.engine decides the rule and so the target; core.resolver finds the owner on a roster of reps and pools
(reps.roster: the locking one at intake, the preview one for "Test a lead"); this module only records the
outcome: owner, status, pool, explanation, the score (core.scoring, summed before the decision), timings, the rule's
hit count and the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import engine, resolver
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from reps.models import Pool, Rep
from reps.roster import LockingRoster, PreviewRoster
from routing.models import Lead, LeadEvent, Rule
from routing.ruleset import facts_scored, lead_facts, ruleset_active


@dataclass
class _Outcome:
    status: str = Lead.Status.UNASSIGNED
    owner: Rep | None = None
    pool: Pool | None = None
    rule: Rule | None = None
    needs_attention: bool = False
    lines: list[str] = field(default_factory=list)
    score: int | None = None
    score_breakdown: list[dict] = field(default_factory=list)


def _route(lead: Lead, *, now: datetime, preview: bool) -> _Outcome:
    """One routing pass: the engine decides the target, the resolver finds the owner on a database roster
    (locking and writing the pick at intake; with `preview`, the same answer with no write and no lock)."""
    day = timezone.localdate(now) if timezone.is_aware(now) else now.date()
    roster = PreviewRoster(day=day) if preview else LockingRoster(day=day)
    # The score first (the compiled score rules, no query per rule): the rules can test it as the field `score`.
    facts, score, breakdown = facts_scored(lead_facts(lead))
    lead.score, lead.score_breakdown = score, breakdown  # the later lead_facts(lead) of this lead carry it too
    decision = engine.decide(ruleset_active(), facts)
    rule = _rule_model(decision.rule) if decision.rule is not None else None
    found = resolver.resolve(resolver.target_for(decision, facts), roster)
    return _Outcome(
        status=found.status,
        owner=roster.rep_model(found.owner_id),
        pool=roster.pool_model(found.pool_id),
        rule=rule,
        needs_attention=found.needs_attention,
        lines=[*decision.explanation, *found.lines],
        score=score,
        score_breakdown=breakdown,
    )


def _rule_model(compiled: engine.CompiledRule) -> Rule:
    """The matched rule as a model instance, from the compiled rule set (no query): the lead records it by id and
    shows its name. A publish may archive the rule a moment later; the lead still records it (its row stays)."""
    rule = Rule(
        pk=compiled.id,
        name=compiled.name,
        position=compiled.position,
        target=compiled.target,
        match=compiled.match,
        is_active=compiled.is_active,
        target_rep_id=compiled.target_rep_id,
        target_pool_id=compiled.target_pool_id,
        table_id=None,  # not known here (and its default would be a query for the live table)
        lineage=None,
    )
    rule._state.adding, rule._state.db = False, "default"
    return rule


def rule_hit_add(*, rule_id: int, at: datetime) -> None:
    """Count a hit of the rule, in the caller's transaction: one short UPDATE. Intake calls it as the last
    statement before its commit, so the rule's row lock is held only for the commit itself, and the hit
    commits (or rolls back) with the lead: no commit of its own. F(): concurrent hits are not lost; update()
    leaves updated_at alone, so a hit does not invalidate the compiled rule set."""
    Rule.all_tables.filter(pk=rule_id).update(hits=F("hits") + 1, last_hit_at=at)


def _apply(lead: Lead, out: _Outcome) -> None:
    lead.status = out.status
    lead.owner = out.owner
    lead.pool = out.pool
    lead.rule = out.rule
    lead.needs_attention = out.needs_attention
    lead.explanation = list(out.lines)
    lead.score = out.score
    lead.score_breakdown = list(out.score_breakdown)


@transaction.atomic(savepoint=False)  # no partial rollback wanted: a failure here fails the caller's transaction
def lead_route(*, lead: Lead, now: datetime, count_hit: bool = True) -> LeadEvent:
    """Route a stored lead: owner, status, rule, pool, explanation and timings, the matched rule's hit count,
    and the assigned / disqualified / unassigned event, which is returned (the rule's actions hang off it).

    `count_hit=False`: the caller counts the hit itself with `rule_hit_add` at the end of its transaction."""
    event = lead_route_decide(lead=lead, now=now)
    lead.save(update_fields=ROUTED_FIELDS)
    if lead.rule_id is not None and count_hit:
        # After commit, in its own short statement: an UPDATE here would hold the rule's row lock for the whole
        # transaction and queue every concurrent lead matching the same rule behind it. F(): concurrent hits are
        # not lost; update() leaves updated_at alone, so a hit does not invalidate the compiled rule set.
        rule_id = lead.rule_id
        transaction.on_commit(lambda: Rule.all_tables.filter(pk=rule_id).update(hits=F("hits") + 1, last_hit_at=now))
    event.lead = lead
    event.save(force_insert=True)
    event.actions_none_yet = True  # written just now: no rule action can have run for it (routing.services.actions)
    return event


ROUTED_FIELDS = ["status", "owner", "pool", "rule", "needs_attention", "explanation", "score", "score_breakdown", "assigned_at", "system_delay_seconds"]


def lead_route_decide(*, lead: Lead, now: datetime) -> LeadEvent:
    """Route a lead (stored or not) onto the instance, saving nothing of the lead: owner, status, rule, pool,
    explanation, score and timings are set on `lead`; the resolver's pick is taken on the locking roster (a pool's
    turn and the rep's day load move, in the caller's transaction). Returns the assigned / disqualified / unassigned
    event, unsaved and without its lead: intake inserts the lead with all of this at once, then the event."""
    out = _route(lead, now=now, preview=False)
    _apply(lead, out)
    if out.owner is not None:
        lead.assigned_at = now
        lead.system_delay_seconds = max(0, round((now - lead.submitted_at).total_seconds())) if lead.submitted_at else None
    else:
        lead.assigned_at = None
        lead.system_delay_seconds = None
    rule_name = out.rule.name if out.rule else None
    if out.status == Lead.Status.ASSIGNED:
        kind = LeadEvent.Type.ASSIGNED
        if rule_name:
            detail = _("Assigned to %(rep)s by the rule “%(rule)s”") % {"rep": out.owner.name, "rule": rule_name}
        elif out.pool is not None:
            detail = _("Assigned to %(rep)s by the fallback pool") % {"rep": out.owner.name}
        else:  # no rule and no pool could place it: the rep on duty caught it (core.resolver)
            detail = _("Assigned to %(rep)s, the rep on duty: nobody in the fallback pool could take it") % {"rep": out.owner.name}
    elif out.status == Lead.Status.DISQUALIFIED:
        kind = LeadEvent.Type.DISQUALIFIED
        detail = _("Disqualified by the rule “%(rule)s”") % {"rule": rule_name}
    else:
        kind = LeadEvent.Type.UNASSIGNED
        detail = _("Nobody could be assigned, not even by the fallback pool or the rep on duty")
    event = LeadEvent(
        type=kind,
        at=now,
        rep=out.owner,
        detail=detail,
        data={"rule_id": out.rule.pk if out.rule else None, "pool_id": out.pool.pk if out.pool else None},
    )
    event.detail_keep_code()
    return event


def lead_preview(*, lead: Lead, now: datetime) -> None:
    """Fill owner, status, rule, pool, explanation and needs_attention of an unsaved lead as routing it now would,
    writing nothing: no pointer, cap or hit count moves."""
    out = _route(lead, now=now, preview=True)
    _apply(lead, out)
