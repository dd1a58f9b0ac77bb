"""What-if replay, step 3: what the manager sees. Totals per rep, pool and rule, the headline, the drill-down.

A lead "moves" when its destination differs: another pool, another directly named rep, or unassigned /
disqualified. A lead that stays in the same pool does not move even if the simulated turn gives it to another
member: within a pool who gets which lead depends on the turn, and counting that would bury the change in noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from core.memory_roster import World
from core.scoring import breakdown_lines
from routing.models import RuleTable
from routing.replay.simulate import DISQUALIFIED, UNASSIGNED, LeadReplay, Outcome


@dataclass
class Delta:
    key: object
    name: str
    moved_in: int = 0
    moved_out: int = 0
    before: int = 0
    after: int = 0

    @property
    def net(self) -> int:
        return self.moved_in - self.moved_out

    @property
    def net_shown(self) -> str:
        return _signed(self.net) if self.net else "0"

    @property
    def change_shown(self) -> str:
        """Hits: after − before."""
        return _signed(self.after - self.before) if self.after != self.before else "0"


@dataclass
class ReplayResult:
    table: RuleTable
    since: datetime
    until: datetime
    limit: int
    leads: list[LeadReplay]
    reps: list[Delta]
    pools: list[Delta]
    rules: list[Delta]
    newly_unassigned: int
    no_longer_unassigned: int
    disqualified_before: int
    disqualified_after: int
    agrees_with_history: int

    @property
    def moved(self) -> list[LeadReplay]:
        return [r for r in self.leads if r.moved]

    def headline(self) -> str:
        """ "Kasia Nowak +42, Marek Zieliński −40, 2 unassigned" (reps with the largest moves first)."""
        parts = [f"{d.name} {_signed(d.net)}" for d in self.reps if d.net]
        if self.newly_unassigned:
            parts.append(_("%(n)s unassigned") % {"n": self.newly_unassigned})
        return ", ".join(parts) if parts else _("No lead would go elsewhere.")

    def leads_for(
        self, *, rep: int | None = None, pool: int | None = None, rule: str | None = None, direction: str = "", unassigned: bool = False
    ) -> list[LeadReplay]:
        """The drill-down: replayed leads behind one number of the summary."""
        rows = self.leads
        if unassigned:
            return [r for r in rows if r.draft.status == UNASSIGNED and r.live.status != UNASSIGNED]
        if rule is not None:
            changed = [r for r in rows if self._lineage(r.live.rule_id) != self._lineage(r.draft.rule_id)]
            gained = [r for r in changed if self._lineage(r.draft.rule_id) == rule]
            lost = [r for r in changed if self._lineage(r.live.rule_id) == rule]
            return gained if direction == "in" else lost if direction == "out" else gained + lost
        moved = [r for r in rows if r.moved]
        if rep is not None:
            return [r for r in moved if (direction != "out" and r.draft.rep_id == rep) or (direction != "in" and r.live.rep_id == rep)]
        if pool is not None:
            return [r for r in moved if (direction != "out" and r.draft.pool_id == pool) or (direction != "in" and r.live.pool_id == pool)]
        return moved

    # Rule ids of both tables -> lineage, and names for the drill-down; filled by replay_run.
    lineage_of: dict[int, str] = field(default_factory=dict)
    rule_names: dict[int, str] = field(default_factory=dict)
    rep_names: dict[int, str] = field(default_factory=dict)
    pool_names: dict[int, str] = field(default_factory=dict)

    def describe(self, outcome: Outcome) -> str:
        """ "Marek Zieliński (Juniors pool), rule “Webinar → Juniors pool”" / "unassigned" / "disqualified by …"."""
        rule = self.rule_names.get(outcome.rule_id) if outcome.rule_id is not None else None
        by = _("rule “%(rule)s”") % {"rule": rule} if rule else _("no rule (fallback pool)")
        if outcome.status == DISQUALIFIED:
            return _("disqualified by %(by)s") % {"by": by}
        if outcome.status == UNASSIGNED:
            return _("unassigned (%(by)s)") % {"by": by}
        who = self.rep_names.get(outcome.rep_id, f"#{outcome.rep_id}")
        if outcome.pool_id is not None:
            who = _("%(rep)s via %(pool)s") % {"rep": who, "pool": self.pool_names.get(outcome.pool_id, f"#{outcome.pool_id}")}
        return f"{who}, {by}"

    def rows(self, replays: list[LeadReplay]) -> list[dict[str, Any]]:
        return [
            {
                "lead": r,
                "live": self.describe(r.live),
                "draft": self.describe(r.draft),
                "live_why": r.live_explanation,
                "draft_why": r.draft_explanation,
                "score": r.score,
                "score_lines": breakdown_lines(r.score_breakdown),
            }
            for r in replays
        ]

    def _lineage(self, rule_id: int | None) -> str | None:
        return self.lineage_of.get(rule_id) if rule_id is not None else None


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else f"−{-n}"


def summarise(
    *, table: RuleTable, since: datetime, until: datetime, limit: int, rows: list[LeadReplay], world: World, rule_rows: dict[int, tuple[str, str]]
) -> ReplayResult:
    """Totals of the replayed leads: who gains and loses, per rep, pool and rule; names for the drill-down."""
    reps: dict[int, Delta] = {}
    pools: dict[int, Delta] = {}
    rules: dict[str, Delta] = {}

    def rep_delta(rep_id: int) -> Delta:
        return reps.setdefault(rep_id, Delta(key=rep_id, name=world.reps[rep_id].name if rep_id in world.reps else f"#{rep_id}"))

    def pool_delta(pool_id: int) -> Delta:
        return pools.setdefault(pool_id, Delta(key=pool_id, name=world.pools[pool_id].name if pool_id in world.pools else f"#{pool_id}"))

    names = {lineage: name for lineage, name in rule_rows.values()}

    def rule_delta(rule_id: int) -> Delta:
        lineage = rule_rows.get(rule_id, (str(rule_id), ""))[0]
        return rules.setdefault(lineage, Delta(key=lineage, name=names.get(lineage, f"#{rule_id}")))

    agrees = 0
    for row in rows:
        live, draft = row.live, row.draft
        for outcome, attr in ((live, "before"), (draft, "after")):
            if outcome.rep_id is not None:
                d = rep_delta(outcome.rep_id)
                setattr(d, attr, getattr(d, attr) + 1)
            if outcome.pool_id is not None:
                d = pool_delta(outcome.pool_id)
                setattr(d, attr, getattr(d, attr) + 1)
            if outcome.rule_id is not None:
                d = rule_delta(outcome.rule_id)
                setattr(d, attr, getattr(d, attr) + 1)
        if row.moved:
            if live.rep_id is not None:
                rep_delta(live.rep_id).moved_out += 1
            if draft.rep_id is not None:
                rep_delta(draft.rep_id).moved_in += 1
            if live.pool_id != draft.pool_id:
                if live.pool_id is not None:
                    pool_delta(live.pool_id).moved_out += 1
                if draft.pool_id is not None:
                    pool_delta(draft.pool_id).moved_in += 1
        live_lineage = rule_rows.get(live.rule_id, (None,))[0] if live.rule_id else None
        if live.rep_id == row.stored_rep_id and live_lineage == row.stored_rule_lineage:
            agrees += 1

    for d in rules.values():
        d.moved_in, d.moved_out = max(0, d.after - d.before), max(0, d.before - d.after)

    def ordered(deltas: Iterable[Delta]) -> list[Delta]:
        return sorted(deltas, key=lambda d: (-abs(d.net), -d.moved_in, d.name))

    return ReplayResult(
        table=table,
        since=since,
        until=until,
        limit=limit,
        leads=rows,
        reps=ordered(d for d in reps.values() if d.moved_in or d.moved_out),
        pools=ordered(d for d in pools.values() if d.moved_in or d.moved_out),
        rules=ordered(d for d in rules.values() if d.before != d.after),
        newly_unassigned=sum(1 for r in rows if r.draft.status == UNASSIGNED and r.live.status != UNASSIGNED),
        no_longer_unassigned=sum(1 for r in rows if r.live.status == UNASSIGNED and r.draft.status != UNASSIGNED),
        disqualified_before=sum(1 for r in rows if r.live.status == DISQUALIFIED),
        disqualified_after=sum(1 for r in rows if r.draft.status == DISQUALIFIED),
        agrees_with_history=agrees,
        lineage_of={pk: lineage for pk, (lineage, _name) in rule_rows.items()},
        rule_names={pk: name for pk, (_lineage, name) in rule_rows.items()},
        rep_names={pk: rep.name for pk, rep in world.reps.items()},
        pool_names={pk: pool.name for pk, pool in world.pools.items()},
    )
