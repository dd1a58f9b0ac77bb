"""What-if replay, step 2: both rule tables over the loaded leads, in memory, through engine and resolver.

Each table gets its own `Simulation`: the routing resolver (core.resolver) on the in-memory roster
(core.memory_roster), with pools starting from a fresh turn and daily caps counted over the replayed leads
only. Nothing in the database moves. An earlier lead inside the replay takes its owner from the same run, so
"previous owner" follows the table's own choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cached_property

from django.utils import timezone

from core import engine, resolver, scoring
from core.memory_roster import MemoryRoster, RosterState, World
from core.messages import language_pinned
from routing.models import Lead
from routing.replay.facts import FactsBulk

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
    """One replayed lead: both outcomes at once, their why and the score's breakdown when first read (the page lists
    only the leads behind a number the manager opens, at most 500: writing every lead's lines, Messages in the
    reader's language, was most of the replay's time)."""

    lead_id: int
    email: str
    company: str
    received_at: datetime
    live: Outcome
    draft: Outcome
    stored_rep_id: int | None = None
    stored_rule_lineage: str | None = None
    score: int | None = None  # the score both tables routed the lead with (the score rules it was replayed with)
    live_decision: engine.Decision | None = field(default=None, repr=False, compare=False)
    draft_decision: engine.Decision | None = field(default=None, repr=False, compare=False)
    unscored: engine.LeadFacts | None = field(default=None, repr=False, compare=False)  # the facts the score was summed over
    scores: scoring.ScoreSet | None = field(default=None, repr=False, compare=False)

    @property
    def moved(self) -> bool:
        return self.live.destination != self.draft.destination

    @cached_property
    def live_explanation(self) -> tuple[str, ...]:
        return _why(self.live_decision, self.live)

    @cached_property
    def draft_explanation(self) -> tuple[str, ...]:
        return _why(self.draft_decision, self.draft)

    @cached_property
    def score_breakdown(self) -> tuple[dict, ...]:
        """As intake stores it: a line per score rule that holds (the same score rules and facts as `score`)."""
        if self.unscored is None or self.scores is None:
            return ()
        return tuple(scoring.score(self.scores, scoring.scored(self.unscored, None))[1])


def _why(decision: engine.Decision | None, outcome: Outcome) -> tuple[str, ...]:
    return (tuple(decision.explanation) if decision is not None else ()) + outcome.lines


def _lineage_of(lead: Lead) -> str | None:
    """The stored rule's lineage: annotated by replay_leads (no query), else read through the rule."""
    if not lead.rule_id:
        return None
    lineage = lead.rule_lineage if hasattr(lead, "rule_lineage") else (lead.rule.lineage if lead.rule else None)
    return str(lineage) if lineage is not None else None


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
    with language_pinned():  # the resolver's lines of every lead: the language asked once, not per Message
        for lead in leads:
            day = timezone.localdate(lead.received_at)
            unscored = facts.base(lead)
            score = scoring.total(scores, scoring.scored(unscored, None))  # the breakdown's lines: when read
            base = scoring.scored(unscored, score)
            outcome: dict[str, tuple[Outcome, engine.Decision]] = {}
            for key, (ruleset, sim, owners) in runs.items():
                lead_facts = replace(base, repeat=facts.repeat(lead, lambda i, stored, owners=owners: owners.get(i, stored)))
                decision = engine.decide(ruleset, lead_facts)
                result = sim.route(decision, lead_facts, day)
                owners[lead.pk] = result.rep_id
                outcome[key] = (result, decision)
            rows.append(
                LeadReplay(
                    lead_id=lead.pk,
                    email=lead.email,
                    company=lead.company,
                    received_at=lead.received_at,
                    live=outcome["live"][0],
                    draft=outcome["draft"][0],
                    stored_rep_id=lead.owner_id,
                    stored_rule_lineage=_lineage_of(lead),
                    score=score,
                    live_decision=outcome["live"][1],
                    draft_decision=outcome["draft"][1],
                    unscored=unscored,
                    scores=scores,
                )
            )
    return rows
