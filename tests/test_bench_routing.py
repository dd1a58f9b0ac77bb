"""Benchmark (`make bench`, not `make test`): the routing decision in process with 500 rules and 200 reps.

Issue 11's goal: "routing decision in process with 500 rules and 200 reps: p99 ≤ 2 ms, no query per rule or per
rep". The decision is what intake and the preview run once a lead's facts are known: the compiled rule set
(routing.ruleset) through `core.engine.decide`, then `core.resolver` on a roster. Here the roster is the in-memory
one (`core.memory_roster`, the replay's) so that only the decision is timed; the database rosters' queries are
counted, not timed, in tests/test_preview_queries.py. The time is recorded against its goal (benchmarks.report);
what is asserted is that the decision asks the database nothing. The same decision with its explanation written
(what intake and the preview store: a line per rule checked, or for a long table the compact form of
`core.engine.Decision`, which still accounts for every rule checked) is timed and recorded next to it.
"""

from __future__ import annotations

import statistics
import time as clock
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from benchmarks.querycount import QueryCounter
from benchmarks.report import record
from core import engine, resolver
from core.memory_roster import MemoryRoster, RosterState
from routing.models import Lead
from routing.replay.load import world_load
from routing.ruleset import facts_scored, lead_facts, ruleset_active
from routing.services.intake import intake_source_create, lead_normalise
from tests.routing_world import lead_fields, routing_grow

pytestmark = pytest.mark.bench

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=ZoneInfo("Europe/Warsaw"))
RULES, REPS = 500, 200
LEADS = 2_000
GOAL_MS = 2.0
PASSES = 3
EXPLAINED_EVERY = 10


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def test_bench_routing_decision_with_500_rules_and_200_reps_in_process(demo):
    source, _token = intake_source_create(name="Website form")
    demo_rules = len(ruleset_active().rules)
    routing_grow(rules=RULES - demo_rules, reps=REPS)
    ruleset = ruleset_active()
    assert len(ruleset.rules) == RULES
    world = world_load(since=NOW.date(), until=NOW.date())
    assert len(world.reps) >= REPS and len(world.pools) >= REPS // 10

    # The facts are the database's part (a handful of indexed queries per lead, counted elsewhere): read first.
    all_facts = []
    for j in range(LEADS):
        lead = lead_normalise(Lead(intake_source=source, submitted_at=NOW, **lead_fields(j)))
        lead.received_at = NOW
        all_facts.append(facts_scored(lead_facts(lead))[0])

    state = RosterState()
    for facts in all_facts[:100]:  # warm: the words' dictionary, the translation catalogue
        resolver.resolve(resolver.target_for(engine.decide(ruleset, facts), facts), MemoryRoster(world, NOW.date(), state))

    # PASSES passes over the leads; a lead's time is its best pass. The box is shared (2 cores, 5 agents): a single
    # pass's p99 mostly measures how often this process was descheduled mid-decision, not the decision. The single
    # pass's own p99 and the decision's CPU time (thread_time: only while it ran) are recorded as detail.
    best = [float("inf")] * LEADS
    first_pass: list[float] = []
    cpu: list[float] = []
    checked: list[int] = []
    outcomes: Counter = Counter()
    with QueryCounter() as queries:
        for round_ in range(PASSES):
            state = RosterState()
            for j, facts in enumerate(all_facts):
                started, cpu_started = clock.perf_counter(), clock.thread_time()
                decision = engine.decide(ruleset, facts)
                found = resolver.resolve(resolver.target_for(decision, facts), MemoryRoster(world, NOW.date(), state))
                elapsed, cpu_elapsed = 1000 * (clock.perf_counter() - started), 1000 * (clock.thread_time() - cpu_started)
                best[j] = min(best[j], elapsed)
                if round_ == 0:
                    first_pass.append(elapsed)
                    cpu.append(cpu_elapsed)
                    checked.append(decision.rules_checked)
                    outcomes[found.status] += 1
    assert queries.total == 0, queries.report()  # no query per rule, per rep, or at all
    assert sum(outcomes.values()) == LEADS
    times = best

    # The why: messages in the reader's language (core.messages), written when first read. Intake and the preview
    # store it with the lead, so they pay for it too: timed on every tenth lead, best of PASSES passes as the
    # decision is (a fresh decision each pass, so each pass writes the why again); one pass and CPU as detail.
    sample = all_facts[::EXPLAINED_EVERY]
    explained = [float("inf")] * len(sample)
    why_first_pass: list[float] = []
    why_cpu: list[float] = []
    why_lines: list[int] = []
    for round_ in range(PASSES):
        state = RosterState()
        for j, facts in enumerate(sample):
            started, cpu_started = clock.perf_counter(), clock.thread_time()
            decision = engine.decide(ruleset, facts)
            found = resolver.resolve(resolver.target_for(decision, facts), MemoryRoster(world, NOW.date(), state))
            lines = [*decision.explanation, *found.lines]
            elapsed, cpu_elapsed = 1000 * (clock.perf_counter() - started), 1000 * (clock.thread_time() - cpu_started)
            explained[j] = min(explained[j], elapsed)
            if round_ == 0:
                why_first_pass.append(elapsed)
                why_cpu.append(cpu_elapsed)
                why_lines.append(len(lines))
                # Every rule checked is in the why: a line of its own ("Rule 7 …: no match — …") or counted in a run's.
                own = sum(1 for line in decision.explanation if line.msgid.startswith("%(rule)s: "))
                runs = sum(line.params["count"] for line in decision.explanation if line.msgid.startswith("Rules %(first)s–%(last)s: "))
                assert own + runs == decision.rules_checked
                assert len(decision.explanation) <= engine.EXPLAINED_ALL + 2 + 2 * engine.EXPLAINED_NEAR  # bounded by design

    p50, p99 = statistics.median(times), percentile(times, 0.99)
    why_p50, why_p99 = statistics.median(explained), percentile(explained, 0.99)
    fell_through = sum(1 for n in checked if n > RULES - demo_rules)
    print(
        f"\nrouting decision, {RULES} rules, {len(world.reps)} reps, {LEADS} leads, best of {PASSES} passes: p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms, max {max(times):.3f} ms; one pass: p99 {percentile(first_pass, 0.99):.3f} ms, CPU p99 "
        f"{percentile(cpu, 0.99):.3f} ms; rules checked per lead: mean {statistics.mean(checked):.0f}, p99 {percentile(checked, 0.99)}; "
        f"{fell_through} leads passed every added rule; outcomes {dict(outcomes)}; with the explanation written: "
        f"p50 {why_p50:.2f} ms, p99 {why_p99:.2f} ms (best of {PASSES}); one pass: p99 {percentile(why_first_pass, 0.99):.2f} ms, CPU p99 "
        f"{percentile(why_cpu, 0.99):.2f} ms; lines per lead: mean {statistics.mean(why_lines):.1f}, max {max(why_lines)} ({connection.vendor})"
    )
    record(
        f"routing decision in process, 500 rules / 200 reps: p99 (best of {PASSES} passes)", p99, "ms", goal=f"≤ {GOAL_MS:g} ms", met=p99 <= GOAL_MS,
        p50_ms=round(p50, 3), max_ms=round(max(times), 3), one_pass_p99_ms=round(percentile(first_pass, 0.99), 3),
        cpu_p99_ms=round(percentile(cpu, 0.99), 3), leads=LEADS, rules=RULES, reps=len(world.reps),
        rules_checked_mean=round(statistics.mean(checked), 1), passed_every_added_rule=fell_through, queries=queries.total,
    )  # fmt: skip
    # No goal of its own in the issue: recorded next to the decision's so that what intake pays is visible.
    record(
        f"routing decision with its explanation written (intake, preview): p99 (best of {PASSES} passes)", why_p99, "ms",
        goal=f"≤ {GOAL_MS:g} ms (the decision's)", met=why_p99 <= GOAL_MS, p50_ms=round(why_p50, 3),
        one_pass_p99_ms=round(percentile(why_first_pass, 0.99), 3), cpu_p99_ms=round(percentile(why_cpu, 0.99), 3), leads=len(explained),
        explanation_lines_mean=round(statistics.mean(why_lines), 1), explanation_lines_max=max(why_lines),
    )  # fmt: skip
