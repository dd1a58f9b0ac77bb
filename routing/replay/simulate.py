"""What-if replay, step 2: both rule tables over the loaded leads, in memory, through engine and resolver.

Each table gets its own `Simulation`: the routing resolver (core.resolver) on the in-memory roster
(core.memory_roster), with pools starting from a fresh turn and daily caps counted over the replayed leads
only. Nothing in the database moves. An earlier lead inside the replay takes its owner from the same run, so
"previous owner" follows the table's own choices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from django.utils import timezone

from core import engine, resolver, scoring
from core.memory_roster import MemoryRoster, RosterState, World
from routing.models import Lead
from routing.replay.facts import FactsBulk
from routing.ruleset import facts_scored

ASSIGNED, DISQUALIFIED, UNASSIGNED = Lead.Status.ASSIGNED.value, Lead.Status.DISQUALIFIED.value, Lead.Status.UNASSIGNED.value


@dataclass(frozen=True)
class Outcome:
    status: str
    rep_id: int | None = None
    pool_id: int | None = None
    rule_id: int | None = None
    lines: tuple[str, ...] = ()

    @property
    def destination(self) -> tuple[object, ...]:
        if self.status != ASSIGNED:
            return (self.status,)
        return ("pool", self.pool_id) if self.pool_id is not None else ("rep", self.rep_id)


@dataclass(frozen=True)
class LeadReplay:
    lead_id: int
    email: str
    company: str
    received_at: datetime
    live: Outcome
    draft: Outcome
    live_explanation: tuple[str, ...]
    draft_explanation: tuple[str, ...]
    stored_rep_id: int | None = None
    stored_rule_lineage: str | None = None
    score: int | None = None  # the score both tables routed the lead with (the score rules it was replayed with)
    score_breakdown: tuple[dict, ...] = ()

    @property
    def moved(self) -> bool:
        return self.live.destination != self.draft.destination


class Simulation:
    """One run of routing over leads in order, with pools' turns and daily loads kept in memory."""

    def __init__(self, world: World, state: RosterState | None = None) -> None:
        self.world = world
        self.state = state if state is not None else RosterState()

    def route(self, decision: engine.Decision, facts: engine.LeadFacts, day: date) -> Outcome:
        """Who routing would give the lead on `day`: the resolver on this run's roster."""
        found = resolver.resolve(resolver.target_for(decision, facts), MemoryRoster(self.world, day, self.state))
        self.state.lead_owned(found.owner_id)  # a least-open pool compares the open leads of this run
        rule_id = decision.rule.id if decision.rule is not None else None
        return Outcome(status=found.status, rep_id=found.owner_id, pool_id=found.pool_id, rule_id=rule_id, lines=found.lines)


def leads_replay(
    *, leads: list[Lead], live: engine.Ruleset, draft: engine.Ruleset, world: World, facts: FactsBulk, scores: scoring.ScoreSet | None = None
) -> list[LeadReplay]:
    """Each lead, oldest first, scored with `scores` (in memory, as intake scores: the stored score may come from
    score rules edited since), decided by both tables and resolved in each table's own simulation."""
    scores = scores if scores is not None else scoring.ScoreSet()
    runs: dict[str, tuple[engine.Ruleset, Simulation, dict[int, int | None]]] = {
        "live": (live, Simulation(world), {}),
        "draft": (draft, Simulation(world), {}),
    }
    rows: list[LeadReplay] = []
    for lead in leads:
        day = timezone.localdate(lead.received_at)
        base, score, breakdown = facts_scored(facts.base(lead), scores)
        outcome: dict[str, tuple[Outcome, tuple[str, ...]]] = {}
        for key, (ruleset, sim, owners) in runs.items():
            lead_facts = replace(base, repeat=facts.repeat(lead, lambda i, stored, owners=owners: owners.get(i, stored)))
            decision = engine.decide(ruleset, lead_facts)
            result = sim.route(decision, lead_facts, day)
            owners[lead.pk] = result.rep_id
            outcome[key] = (result, decision.explanation)
        rows.append(
            LeadReplay(
                lead_id=lead.pk,
                email=lead.email,
                company=lead.company,
                received_at=lead.received_at,
                live=outcome["live"][0],
                draft=outcome["draft"][0],
                live_explanation=outcome["live"][1] + outcome["live"][0].lines,
                draft_explanation=outcome["draft"][1] + outcome["draft"][0].lines,
                stored_rep_id=lead.owner_id,
                stored_rule_lineage=str(lead.rule.lineage) if lead.rule_id and lead.rule else None,
                score=score,
                score_breakdown=tuple(breakdown),
            )
        )
    return rows
