"""What-if replay: run a draft rule table over past leads and compare it with the live table. Writes nothing.

Both tables are compiled by the same code as routing (`routing.ruleset.ruleset_compile`), decided by the same
engine (`core.engine.decide`) over the same rebuilt facts, and resolved by the same resolver as intake
(`core.resolver`) on an in-memory roster, so the difference is the rule change alone (not a reassignment, an
absence or a pool's turn since the lead came in). Three steps (the first in two modules):

- `load`: the leads of the period and, in bulk, the world (reps, pools, absences, on-duty rota); a rep is
  unavailable on the lead's day if inactive now or out of office that day; a momentary "in a meeting" / "away"
  says nothing about last month and is ignored;
- `facts`: the leads' facts, one query per kind of fact for all of them (`FactsBulk`), chosen among the rows
  found by `core.facts` as for one lead; so the replay's queries do not grow with the leads, reps or pools;
- `simulate`: both tables through engine and resolver, pools starting from a fresh turn in both runs, daily caps
  counted over the replayed leads only; repeat leads count only leads stored before the lead (by id), and an
  earlier lead inside the replay takes its owner from the same run;
- `present`: `ReplayResult` (who gains and loses, the headline, the drill-down).

Each lead is scored again in memory with the active score rules (`routing.ruleset.scoreset_compile`, the same
compile code as intake; score rules are one list, not versioned with the rule table, so both runs score alike)
before either table decides, so a rule on the score ("score ≥ 60") replays as it would route today.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from core.memory_roster import World
from core.resolver import PoolInfo, RepInfo
from routing.models import RuleTable
from routing.replay.facts import FactsBulk
from routing.replay.load import DEFAULT_LIMIT, MAX_LIMIT, replay_leads, rule_rows, world_load
from routing.replay.present import Delta, ReplayResult, summarise
from routing.replay.simulate import ASSIGNED, DISQUALIFIED, UNASSIGNED, LeadReplay, Outcome, Simulation, leads_replay
from routing.ruleset import ruleset_compile, scoreset_compile


def replay_run(*, table: RuleTable, since: datetime, until: datetime, limit: int = DEFAULT_LIMIT) -> ReplayResult:
    """Route the leads of the period with `table` and with the live table, in memory, and compare. Reads only."""
    leads = replay_leads(since=since, until=until, limit=limit)
    live_rules = ruleset_compile()
    draft_rules = ruleset_compile(table=table)
    rules = rule_rows(table=table)
    world = world_load(since=timezone.localdate(since), until=timezone.localdate(until))
    scores = scoreset_compile()  # score rules are not versioned with the table: both runs score with today's
    rows = leads_replay(leads=leads, live=live_rules, draft=draft_rules, world=world, facts=FactsBulk(leads), scores=scores)
    return summarise(table=table, since=since, until=until, limit=limit, rows=rows, world=world, rule_rows=rules)


__all__ = [
    "ASSIGNED",
    "DEFAULT_LIMIT",
    "DISQUALIFIED",
    "MAX_LIMIT",
    "UNASSIGNED",
    "Delta",
    "LeadReplay",
    "Outcome",
    "PoolInfo",
    "RepInfo",
    "ReplayResult",
    "Simulation",
    "World",
    "replay_leads",
    "replay_run",
]
