"""What-if replay: run a draft rule table over past leads and compare it with the live table. Writes nothing.

Both tables are compiled by the same code as routing (`routing.ruleset.ruleset_compile`) and decided by the same
engine (`core.engine.decide`), over the same rebuilt facts, and both outcomes are simulated the same way, so the
difference is the rule change alone (not a reassignment, an absence or a pool's turn since the lead came in).

Simulation, in memory (`Simulation` is pure; `replay_run` loads the plain data it needs):
- a rep is unavailable on the lead's day if inactive now or out of office that day (absences); a momentary
  "in a meeting" / "away" says nothing about last month and is ignored;
- pools: weighted round robin as `reps.services.pool_pick_rep` does it, starting from a fresh turn in both runs;
  daily caps are counted over the replayed leads only; no pointer, cap or hit count in the database moves;
- repeat leads: only leads stored before the lead count (by id); an earlier lead inside the replay takes its owner
  from the same run, so "previous owner" follows the draft's own choices.

A lead "moves" when its destination differs: another pool, another directly named rep, or unassigned /
disqualified. A lead that stays in the same pool does not move even if the simulated turn gives it to another
member: within a pool who gets which lead depends on the turn, and counting that would bury the change in noise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from django.db.models import Case, When
from django.utils import timezone
from django.utils.translation import gettext as _

from core import engine
from reps import selectors as rep_selectors
from reps.models import Absence, OnDutyOverride, OnDutyRota, Pool, PoolMembership, Rep
from routing.models import Lead, Rule, RuleTable
from routing.ruleset import _FACT_FIELDS, REPEAT_LOOKBACK, ruleset_compile

ASSIGNED, DISQUALIFIED, UNASSIGNED = Lead.Status.ASSIGNED.value, Lead.Status.DISQUALIFIED.value, Lead.Status.UNASSIGNED.value
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


# --------------------------------------------------------------------------------------------------
# The world the simulation runs in (plain data)


@dataclass(frozen=True)
class RepInfo:
    id: int
    name: str
    is_active: bool = True
    weight: int = 1
    daily_cap: int | None = None


@dataclass(frozen=True)
class PoolInfo:
    id: int
    name: str
    members: tuple[tuple[int, int], ...] = ()  # (rep id, effective weight), in membership order
    fallback_rep_id: int | None = None
    is_fallback: bool = False


@dataclass(frozen=True)
class World:
    reps: dict[int, RepInfo] = field(default_factory=dict)
    pools: dict[int, PoolInfo] = field(default_factory=dict)
    absences: dict[int, tuple[tuple[date, date], ...]] = field(default_factory=dict)
    on_duty_overrides: dict[date, int] = field(default_factory=dict)
    on_duty_rota: dict[int, int] = field(default_factory=dict)  # weekday -> rep id

    @property
    def fallback_pool_id(self) -> int | None:
        return next((p.id for p in self.pools.values() if p.is_fallback), None)

    def unavailable(self, rep_id: int, day: date) -> str | None:
        rep = self.reps.get(rep_id)
        if rep is None or not rep.is_active:
            return _("inactive")
        for starts, ends in self.absences.get(rep_id, ()):
            if starts <= day <= ends:
                return _("out of office until %(until)s") % {"until": ends.isoformat()}
        return None

    def on_duty(self, day: date) -> int | None:
        return self.on_duty_overrides.get(day, self.on_duty_rota.get(day.weekday()))


@dataclass(frozen=True)
class Outcome:
    status: str
    rep_id: int | None = None
    pool_id: int | None = None
    rule_id: int | None = None
    lines: tuple[str, ...] = ()

    @property
    def destination(self) -> tuple:
        if self.status != ASSIGNED:
            return (self.status,)
        return ("pool", self.pool_id) if self.pool_id is not None else ("rep", self.rep_id)


class Simulation:
    """One run of routing over leads in order, with pools' turns and daily loads kept in memory."""

    def __init__(self, world: World):
        self.world = world
        self.turns: dict[int, dict[int, int]] = defaultdict(dict)
        self.loads: Counter = Counter()

    def route(self, decision: engine.Decision, facts: engine.LeadFacts, day: date) -> Outcome:
        run = _Run(self, day)
        rule = decision.rule
        if rule is None:
            run.fallback_pool()
        elif rule.target == engine.TARGET_NOBODY:
            run.status = DISQUALIFIED
            run.lines.append(_("Disqualified: nobody is assigned."))
        elif rule.target == engine.TARGET_REP:
            run.direct(rule.target_rep_id)
        elif rule.target == engine.TARGET_POOL:
            run.pool(rule.target_pool_id)
        elif rule.target == engine.TARGET_TERRITORY and facts.territory is not None:
            if facts.territory.owner_rep_id is not None:
                run.direct(facts.territory.owner_rep_id)
            else:
                run.pool(facts.territory.owner_pool_id)
        elif rule.target == engine.TARGET_ACCOUNT_MANAGER and facts.account is not None:
            run.direct(facts.account.manager_id)
        elif rule.target == engine.TARGET_PREVIOUS_OWNER and facts.repeat is not None:
            run.direct(facts.repeat.previous_owner_id)
        else:
            run.fallback_pool()
        return Outcome(status=run.status, rep_id=run.rep_id, pool_id=run.pool_id, rule_id=rule.id if rule else None, lines=tuple(run.lines))

    def pick(self, pool: PoolInfo, day: date) -> int | None:
        """The pool's next rep in turn (smooth weighted round robin, as reps.services.pool_pick_rep), or None."""
        candidates = []
        for rep_id, weight in pool.members:
            rep = self.world.reps.get(rep_id)
            if rep is None or self.world.unavailable(rep_id, day) or weight <= 0:
                continue
            if rep.daily_cap is not None and self.loads[(rep_id, day)] >= rep.daily_cap:
                continue
            candidates.append((rep_id, weight))
        if not candidates:
            return None
        turn = self.turns[pool.id]
        total = sum(w for _r, w in candidates)
        best, best_score = None, 0
        for rep_id, weight in candidates:
            turn[rep_id] = turn.get(rep_id, 0) + weight
            if best is None or turn[rep_id] > best_score:
                best, best_score = rep_id, turn[rep_id]
        turn[best] -= total
        self.loads[(best, day)] += 1
        return best


class _Run:
    """One lead through the simulation: mirrors routing.services.assignment._Router without the database."""

    def __init__(self, sim: Simulation, day: date):
        self.sim, self.world, self.day = sim, sim.world, day
        self.status, self.rep_id, self.pool_id = UNASSIGNED, None, None
        self.lines: list[str] = []
        self.fallback_tried = False

    def _name(self, rep_id: int) -> str:
        rep = self.world.reps.get(rep_id)
        return rep.name if rep else f"#{rep_id}"

    def assign(self, rep_id: int) -> None:
        self.status, self.rep_id = ASSIGNED, rep_id
        self.lines.append(_("Assigned to %(rep)s.") % {"rep": self._name(rep_id)})

    def unassigned(self) -> None:
        self.status, self.rep_id = UNASSIGNED, None
        self.lines.append(_("Nobody is available, not even in the fallback pool: the lead is left unassigned for the manager."))

    def direct(self, rep_id: int | None) -> None:
        if rep_id is None or rep_id not in self.world.reps:
            self.lines.append(_("The rep no longer exists: the lead goes to the fallback pool."))
            self.fallback_pool()
            return
        reason = self.world.unavailable(rep_id, self.day)
        if reason is None:
            self.assign(rep_id)
            return
        self.lines.append(_("%(rep)s is %(reason)s: the lead goes to the on-duty rep.") % {"rep": self._name(rep_id), "reason": reason})
        duty = self.world.on_duty(self.day)
        if duty is None or self.world.unavailable(duty, self.day):
            self.lines.append(_("Nobody on duty can take it: the lead goes to the fallback pool."))
            self.fallback_pool()
            return
        self.assign(duty)

    def _pool_pick(self, pool: PoolInfo) -> bool:
        rep_id = self.sim.pick(pool, self.day)
        if rep_id is None and pool.fallback_rep_id is not None and not self.world.unavailable(pool.fallback_rep_id, self.day):
            rep_id = pool.fallback_rep_id
            self.sim.loads[(rep_id, self.day)] += 1  # the overflow owner has no cap here, but it counts elsewhere
            self.lines.append(_("%(pool)s: the lead goes to the pool's fallback owner") % {"pool": pool.name})
        if rep_id is None:
            self.lines.append(_("%(pool)s: nobody in the pool can take the lead") % {"pool": pool.name})
            return False
        self.lines.append(_("%(pool)s: %(rep)s is next in turn (simulated)") % {"pool": pool.name, "rep": self._name(rep_id)})
        self.pool_id = pool.id
        self.assign(rep_id)
        return True

    def pool(self, pool_id: int | None) -> None:
        pool = self.world.pools.get(pool_id) if pool_id is not None else None
        if pool is None:
            self.lines.append(_("The rule's pool no longer exists: the lead goes to the fallback pool."))
            self.fallback_pool()
            return
        if self._pool_pick(pool):
            return
        if pool.is_fallback:
            self.fallback_tried = True
            self.unassigned()
            return
        self.fallback_pool()

    def fallback_pool(self) -> None:
        if self.fallback_tried:
            self.unassigned()
            return
        self.fallback_tried = True
        pool = self.world.pools.get(self.world.fallback_pool_id) if self.world.fallback_pool_id else None
        if pool is None:
            self.lines.append(_("No fallback pool is configured."))
            self.unassigned()
            return
        if not self._pool_pick(pool):
            self.unassigned()


# --------------------------------------------------------------------------------------------------
# Results


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

    @property
    def moved(self) -> bool:
        return self.live.destination != self.draft.destination


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

    def leads_for(self, *, rep: int | None = None, pool: int | None = None, rule: str | None = None, direction: str = "", unassigned: bool = False):
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

    def rows(self, replays: list[LeadReplay]) -> list[dict]:
        return [
            {"lead": r, "live": self.describe(r.live), "draft": self.describe(r.draft), "live_why": r.live_explanation, "draft_why": r.draft_explanation}
            for r in replays
        ]

    def _lineage(self, rule_id: int | None) -> str | None:
        return self.lineage_of.get(rule_id) if rule_id is not None else None


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else f"−{-n}"


# --------------------------------------------------------------------------------------------------
# Loading and running (reads only)


def _world(*, since: date, until: date) -> World:
    reps = {r.pk: RepInfo(id=r.pk, name=r.name, is_active=r.is_active, weight=r.weight, daily_cap=r.daily_cap) for r in Rep.objects.all()}
    members: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for m in PoolMembership.objects.select_related("rep").order_by("position", "id"):
        members[m.pool_id].append((m.rep_id, m.effective_weight))
    pools = {
        p.pk: PoolInfo(id=p.pk, name=p.name, members=tuple(members.get(p.pk, ())), fallback_rep_id=p.fallback_rep_id, is_fallback=p.is_fallback)
        for p in Pool.objects.all()
    }
    absences: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for a in Absence.objects.filter(starts_on__lte=until, ends_on__gte=since):
        absences[a.rep_id].append((a.starts_on, a.ends_on))
    return World(
        reps=reps,
        pools=pools,
        absences={k: tuple(v) for k, v in absences.items()},
        on_duty_overrides=dict(OnDutyOverride.objects.filter(date__gte=since, date__lte=until).values_list("date", "rep_id")),
        on_duty_rota=dict(OnDutyRota.objects.values_list("weekday", "rep_id")),
    )


class _FactsCache:
    """Facts of many leads with one lookup per distinct domain and place, and the repeat facts in one query."""

    def __init__(self, leads: list[Lead]):
        self.domains: dict[str, tuple] = {}
        self.places: dict[tuple, engine.TerritoryFact | None] = {}
        emails = {lead.email_key for lead in leads if lead.email_key}
        top = max((lead.pk for lead in leads), default=0)
        self.earlier: dict[str, list[tuple[int, int | None]]] = defaultdict(list)  # email -> [(id, stored owner)] newest first
        if emails:
            for lead_id, email, owner_id in Lead.objects.filter(email_key__in=emails, pk__lt=top).order_by("-id").values_list("id", "email_key", "owner_id"):
                self.earlier[email].append((lead_id, owner_id))

    def base(self, lead: Lead) -> engine.LeadFacts:
        domain = lead.email_domain or ""
        if domain not in self.domains:
            self.domains[domain] = (rep_selectors.domain_lists_for(domain=domain), rep_selectors.account_for_domain(domain=domain))
        lists, account = self.domains[domain]
        place = (lead.region_key or "", lead.city_key or "", lead.postal_code_num)
        if place not in self.places:
            self.places[place] = rep_selectors.territory_for(region_key=place[0], city_key=place[1], postal_code_num=place[2])
        return engine.LeadFacts(
            fields={name: getattr(lead, name, None) for name in _FACT_FIELDS},
            extra=lead.extra if isinstance(lead.extra, dict) else {},
            email_domain=domain,
            domain_list_ids=lists,
            account=account,
            territory=self.places[place],
        )

    def repeat(self, lead: Lead, owner_of: Callable[[int, int | None], int | None]) -> engine.RepeatFact | None:
        """As routing.ruleset.lead_repeat: leads before this one (by id) with the same e-mail, newest first."""
        rows = [(i, owner_of(i, o)) for i, o in self.earlier.get(lead.email_key, ()) if i < lead.pk][:REPEAT_LOOKBACK]
        if not rows:
            return None
        previous = next(((i, o) for i, o in rows if o is not None), (rows[0][0], None))
        return engine.RepeatFact(earlier_lead_ids=tuple(i for i, _o in rows), previous_lead_id=previous[0], previous_owner_id=previous[1])


def replay_leads(*, since: datetime, until: datetime, limit: int = DEFAULT_LIMIT) -> list[Lead]:
    """The newest `limit` leads received in [since, until), oldest first (the order they were routed in)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    newest = list(Lead.objects.filter(received_at__gte=since, received_at__lt=until).select_related("rule").order_by("-received_at", "-id")[:limit])
    return sorted(newest, key=lambda lead: lead.pk)


def replay_run(*, table: RuleTable, since: datetime, until: datetime, limit: int = DEFAULT_LIMIT) -> ReplayResult:
    """Route the leads of the period with `table` and with the live table, in memory, and compare. Reads only."""
    leads = replay_leads(since=since, until=until, limit=limit)
    live_rules = ruleset_compile()
    draft_rules = ruleset_compile(table=table)
    live_id = RuleTable.objects.filter(status=RuleTable.Status.LIVE).values_list("pk", flat=True).first()
    # The live table's rows first, so the draft's names win for a rule in both.
    rule_rows = {
        pk: (str(lineage), name)
        for pk, lineage, name in Rule.all_tables.filter(table__in=[live_id, table.pk])
        .order_by(Case(When(table_id=table.pk, then=1), default=0))
        .values_list("id", "lineage", "name")
    }
    world = _world(since=timezone.localdate(since), until=timezone.localdate(until))
    facts_cache = _FactsCache(leads)
    runs = {"live": (live_rules, Simulation(world), {}), "draft": (draft_rules, Simulation(world), {})}

    rows: list[LeadReplay] = []
    for lead in leads:
        day = timezone.localdate(lead.received_at)
        base = facts_cache.base(lead)
        outcome: dict[str, tuple[Outcome, tuple[str, ...]]] = {}
        for key, (ruleset, sim, owners) in runs.items():
            facts = replace(base, repeat=facts_cache.repeat(lead, lambda i, stored, owners=owners: owners.get(i, stored)))
            decision = engine.decide(ruleset, facts)
            result = sim.route(decision, facts, day)
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
            )
        )
    return _summarise(table=table, since=since, until=until, limit=limit, rows=rows, world=world, rule_rows=rule_rows)


def _summarise(*, table, since, until, limit, rows: list[LeadReplay], world: World, rule_rows: dict[int, tuple[str, str]]) -> ReplayResult:
    reps: dict[int, Delta] = {}
    pools: dict[int, Delta] = {}
    rules: dict[str, Delta] = {}

    def rep_delta(rep_id):
        return reps.setdefault(rep_id, Delta(key=rep_id, name=world.reps[rep_id].name if rep_id in world.reps else f"#{rep_id}"))

    def pool_delta(pool_id):
        return pools.setdefault(pool_id, Delta(key=pool_id, name=world.pools[pool_id].name if pool_id in world.pools else f"#{pool_id}"))

    names = {lineage: name for lineage, name in rule_rows.values()}

    def rule_delta(rule_id):
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

    def ordered(deltas):
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
