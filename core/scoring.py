"""Lead scoring: points summed over the score rules whose conditions hold, with one breakdown line per rule.

Pure: plain data in, plain data out, no ORM. The score rules are compiled from `routing.models.ScoreRule` by
`routing/ruleset.py` (cached like the rule set); their conditions are the same as rules' and SLA policies'
(`core.conditions.evaluate`). The total goes into the lead's facts as the field `score`, so a routing rule (or an
SLA policy) can test "score ≥ 60"; a score rule itself never sees a score (it is what makes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.conditions import MATCH_ALL, Condition, LeadFacts, _shown, evaluate, holds
from core.messages import join
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)

SCORE_FIELD = "score"


@dataclass(frozen=True)
class CompiledScoreRule:
    id: int
    name: str
    points: int
    conditions: tuple[Condition, ...] = ()
    match: str = MATCH_ALL


@dataclass(frozen=True)
class ScoreSet:
    """The active score rules in order, and the version they were compiled from."""

    rules: tuple[CompiledScoreRule, ...] = ()
    version: tuple = ()


def _signed(points: int) -> str:
    return f"+{points}" if points > 0 else f"−{-points}" if points < 0 else "0"


def score(rules: ScoreSet | Sequence[CompiledScoreRule], facts: LeadFacts) -> tuple[int, list[dict]]:
    """The lead's total and its breakdown: `[{"points": 10, "why": "“Phone given”: phone is “+48 …”"}]`, one line
    per score rule that holds, in the rules' order. No rule holds: 0 and []. Never raises (as `evaluate`)."""
    compiled = rules.rules if isinstance(rules, ScoreSet) else tuple(rules)
    total = 0
    breakdown: list[dict] = []
    for rule in compiled:
        holds, lines = evaluate(rule.conditions, rule.match, facts)
        if not holds:
            continue
        total += rule.points
        why = _("%(rule)s: %(reasons)s") % {"rule": _shown(rule.name), "reasons": join("; ", lines)}
        breakdown.append({"points": rule.points, "why": why})
    return total, breakdown


def total(rules: ScoreSet | Sequence[CompiledScoreRule], facts: LeadFacts) -> int:
    """`score`'s total alone, from the compiled tests: no breakdown line is written (the what-if replay scores every
    lead to route it, and shows the breakdown of the few leads it lists: `score` then)."""
    compiled = rules.rules if isinstance(rules, ScoreSet) else tuple(rules)
    return sum(rule.points for rule in compiled if holds(rule.conditions, rule.match, facts))


def breakdown_lines(breakdown: Sequence[dict] | None) -> list[str]:
    """A stored breakdown as lines people read: "+10 “Phone given”: phone is “+48 …”"."""
    lines = []
    for item in breakdown or ():
        if isinstance(item, dict):
            points = item.get("points")
            prefix = _signed(points) if isinstance(points, int) and not isinstance(points, bool) else "?"
            lines.append(f"{prefix} {item.get('why', '')}".strip())
    return lines


def scored(facts: LeadFacts, total: int | None) -> LeadFacts:
    """The facts with the lead's score as the field `score` (the facts themselves are not changed)."""
    return replace(facts, fields={**facts.fields, SCORE_FIELD: total})
