"""Who gets this lead: the one resolver behind intake, preview, the what-if replay and the SLA reassignment.

Plain data in, plain data out: a `Target` (what `core.engine.decide` picked plus the facts it refers to, via
`target_for`, or the SLA's `Reassign` chain) and a `Roster` (reps, their availability on the roster's day,
pools with members, weights, caps, loads and turn state, the fallback pool, the on-duty rep) give a `Resolution`
(status, owner, pool, needs_attention) and the explanation lines. The rosters differ only in where the data
comes from and whether a pick is written down: `reps.roster` (locking / preview, the database) and
`core.memory_roster` (the replay). Round robin itself is `core.round_robin`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from core import engine, round_robin
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)

ASSIGNED, DISQUALIFIED, UNASSIGNED = "assigned", "disqualified", "unassigned"  # routing.models.Lead.Status values
OPEN_STATUS = ASSIGNED  # an open lead: assigned, not yet contacted, disqualified or closed
AVAILABLE, IN_MEETING, AWAY = "available", "in_meeting", "away"  # reps.models.Rep.Status values
ROUND_ROBIN, LEAST_OPEN = "round_robin", "least_open"  # reps.models.Pool.Strategy values


# --------------------------------------------------------------------------------------------------
# The roster


@dataclass(frozen=True)
class RepInfo:
    id: int
    name: str
    is_active: bool = True
    status: str = AVAILABLE
    weight: int = 1
    daily_cap: int | None = None


@dataclass(frozen=True)
class PoolInfo:
    id: int
    name: str
    members: tuple[tuple[int, int], ...] = ()  # (rep id, effective weight), in membership order
    fallback_rep_id: int | None = None
    is_fallback: bool = False
    strategy: str = ROUND_ROBIN  # or LEAST_OPEN: the member with the fewest open leads, ties in turn


class Roster(Protocol):
    """What the resolver may ask about reps and pools, all as of one day (`day`)."""

    day: date

    def rep(self, rep_id: int) -> RepInfo | None:
        """The rep, or None when there is no such rep."""

    def unavailable(self, rep_ids: Sequence[int]) -> Mapping[int, str]:
        """{rep id: why not} for the reps that cannot take a lead on `day` (inactive, away, out of office, ...)."""

    def on_duty(self) -> int | None:
        """The on-duty rep of `day` as configured (availability is checked by the resolver)."""

    def pool(self, pool_id: int) -> PoolInfo | None:
        """The pool, or None; its members become known to `rep`. A locking roster locks the pool here."""

    def fallback_pool(self) -> PoolInfo | None:
        """The routing fallback pool, or None; as `pool`."""

    def loads(self, rep_ids: Sequence[int]) -> Mapping[int, int]:
        """{rep id: pool leads already counted on `day`} (missing: 0)."""

    def open_leads(self, rep_ids: Sequence[int]) -> Mapping[int, int]:
        """{rep id: open leads they own now} (missing: 0); asked only for a least-open pool, after `pool` locked it."""

    def turn(self, pool: PoolInfo) -> Mapping[int, int]:
        """The pool's round-robin state as stored (the resolver drops reps who are no longer members)."""

    def take(self, rep_id: int, cap: int | None) -> bool:
        """Count one more pool lead for the rep on `day` unless that passes `cap`; False when capped meanwhile."""

    def turn_keep(self, pool: PoolInfo, turn: Mapping[int, int], rep_id: int) -> None:
        """Remember the pool's new turn state after `rep_id` was picked."""


# --------------------------------------------------------------------------------------------------
# Targets and the result


@dataclass(frozen=True)
class Nobody:
    """Disqualified: the rule sends the lead to nobody."""


@dataclass(frozen=True)
class ToRep:
    """A named rep (`who` says which: "The rule's rep", "The account manager", ...); None: it no longer exists."""

    rep_id: int | None
    who: str


@dataclass(frozen=True)
class ToPool:
    pool_id: int | None


@dataclass(frozen=True)
class ToFallback:
    """No rule matched (or its target vanished): the fallback pool."""


@dataclass(frozen=True)
class Reassign:
    """The SLA's reassignment chain: the step's rep, else the lead's pool, else the on-duty rep; never one of `exclude`."""

    step_rep_id: int | None = None
    pool_id: int | None = None
    exclude: frozenset[int] = frozenset()


Target = Nobody | ToRep | ToPool | ToFallback | Reassign


@dataclass(frozen=True)
class Resolution:
    status: str = UNASSIGNED
    owner_id: int | None = None
    pool_id: int | None = None
    needs_attention: bool = False
    lines: tuple[str, ...] = ()


def target_for(decision: engine.Decision, facts: engine.LeadFacts) -> Target:
    """The target of the rule `decide` picked, resolved against the facts it refers to."""
    rule = decision.rule
    if rule is None:
        return ToFallback()
    target = rule.target
    # decide() only picks a rule whose target exists in the facts (engine.target_missing).
    if target == engine.TARGET_NOBODY:
        return Nobody()
    if target == engine.TARGET_REP:
        return ToRep(rule.target_rep_id, who=_("The rule's rep"))
    if target == engine.TARGET_POOL:
        return ToPool(rule.target_pool_id)
    if target == engine.TARGET_TERRITORY and facts.territory is not None:
        if facts.territory.owner_rep_id is not None:
            return ToRep(facts.territory.owner_rep_id, who=_("The territory's owner"))
        return ToPool(facts.territory.owner_pool_id)
    if target == engine.TARGET_ACCOUNT_MANAGER and facts.account is not None:
        return ToRep(facts.account.manager_id, who=_("The account manager"))
    if target == engine.TARGET_PREVIOUS_OWNER and facts.repeat is not None:
        return ToRep(facts.repeat.previous_owner_id, who=_("The previous owner"))
    return ToFallback()


def resolve(target: Target, roster: Roster) -> Resolution:
    """Who gets the lead, from `roster`, and why (one line per step taken)."""
    run = _Run(roster)
    if isinstance(target, Nobody):
        run.disqualify()
    elif isinstance(target, ToRep):
        run.direct(target.rep_id, who=target.who)
    elif isinstance(target, ToPool):
        run.pool(target.pool_id)
    elif isinstance(target, Reassign):
        run.reassign(target)
    else:
        run.fallback_pool()
    return Resolution(status=run.status, owner_id=run.owner_id, pool_id=run.pool_id, needs_attention=run.needs_attention, lines=tuple(run.lines))


# --------------------------------------------------------------------------------------------------
# A pool's pick


def _name(roster: Roster, rep_id: int) -> str:
    rep = roster.rep(rep_id)
    return rep.name if rep is not None else f"#{rep_id}"


def pool_pick(pool: PoolInfo, roster: Roster, *, exclude: frozenset[int] = frozenset()) -> tuple[int | None, list[str]]:
    """The pool's next rep in turn, and a line for each rep skipped and for the choice.

    Weighted smooth round robin in membership order; a least-open pool (`PoolInfo.strategy`) instead picks the
    candidate with the fewest open leads (weights do not count there, but weight 0 still skips), a tie going to
    whoever of them was served longest ago (`round_robin.least_recent`). Skips reps who are in `exclude` (had the
    lead already), unavailable, at their daily cap or of weight 0. A rep found capped when the pick is counted (another pool
    took the last slot meanwhile) is skipped and the turn goes on. When nobody is left: the pool's fallback
    owner, if available and not excluded (not capped: the overflow owner takes what the members cannot).
    """
    rep_ids = [rep_id for rep_id, _weight in pool.members]
    unavailable = roster.unavailable(rep_ids) if rep_ids else {}
    loads = roster.loads(rep_ids) if rep_ids else {}
    caps: dict[int, int | None] = {}
    lines: list[str] = []
    candidates: list[tuple[int, int]] = []
    for rep_id, weight in pool.members:
        rep = roster.rep(rep_id)
        name = rep.name if rep is not None else f"#{rep_id}"
        cap = rep.daily_cap if rep is not None else None
        if rep_id in exclude:
            lines.append(_("%(pool)s: %(rep)s skipped: already had this lead") % {"pool": pool.name, "rep": name})
            continue
        if rep_id in unavailable:
            lines.append(_("%(pool)s: %(rep)s skipped: %(reason)s") % {"pool": pool.name, "rep": name, "reason": unavailable[rep_id]})
            continue
        if cap is not None and loads.get(rep_id, 0) >= cap:
            lines.append(_("%(pool)s: %(rep)s skipped: reached the daily cap of %(cap)s") % {"pool": pool.name, "rep": name, "cap": cap})
            continue
        if weight <= 0:
            lines.append(_("%(pool)s: %(rep)s skipped: weight 0") % {"pool": pool.name, "rep": name})
            continue
        caps[rep_id] = cap
        candidates.append((rep_id, weight))

    members = set(rep_ids)
    current = {rep_id: score for rep_id, score in roster.turn(pool).items() if rep_id in members}
    least_open = pool.strategy == LEAST_OPEN
    # One grouped read, after `roster.pool` locked the pool: concurrent picks never share a snapshot.
    open_counts = roster.open_leads([rep_id for rep_id, _weight in candidates]) if least_open and candidates else {}
    while candidates:
        if least_open:
            fewest = min(open_counts.get(rep_id, 0) for rep_id, _weight in candidates)
            tied = [rep_id for rep_id, _weight in candidates if open_counts.get(rep_id, 0) == fewest]
            chosen, state = round_robin.least_recent(tied, current)
        else:
            chosen, state = round_robin.pick(candidates, current)
        if not roster.take(chosen, caps[chosen]):
            # Capped meanwhile through another pool: skip and pick again.
            lines.append(
                _("%(pool)s: %(rep)s skipped: reached the daily cap of %(cap)s") % {"pool": pool.name, "rep": _name(roster, chosen), "cap": caps[chosen]}
            )
            candidates = [c for c in candidates if c[0] != chosen]
            continue
        roster.turn_keep(pool, state, chosen)
        said = {"pool": pool.name, "rep": _name(roster, chosen)}
        if not least_open:
            lines.append(_("%(pool)s: %(rep)s is next in turn") % said)
        elif len(tied) == 1:
            lines.append(_("%(pool)s: %(rep)s has the fewest open leads (%(open)s)") % {**said, "open": fewest})
        else:
            lines.append(_("%(pool)s: %(rep)s is next in turn of those with the fewest open leads (%(open)s)") % {**said, "open": fewest})
        return chosen, lines

    if not pool.members:
        lines.append(_("%(pool)s has no members") % {"pool": pool.name})
    else:
        lines.append(_("%(pool)s: nobody in the pool can take the lead") % {"pool": pool.name})
    fallback_id = pool.fallback_rep_id
    if fallback_id is None:
        return None, lines
    reason = roster.unavailable([fallback_id]).get(fallback_id)
    if reason or fallback_id in exclude:
        lines.append(
            _("%(pool)s: fallback owner %(rep)s skipped: %(reason)s")
            % {"pool": pool.name, "rep": _name(roster, fallback_id), "reason": reason or _("already had this lead")}
        )
        return None, lines
    roster.take(fallback_id, None)
    lines.append(_("%(pool)s: the lead goes to the pool's fallback owner %(rep)s") % {"pool": pool.name, "rep": _name(roster, fallback_id)})
    return fallback_id, lines


# --------------------------------------------------------------------------------------------------
# One resolution


class _Run:
    """One lead through the target chain; the outcome builds up on the instance."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        self.status: str = UNASSIGNED
        self.owner_id: int | None = None
        self.pool_id: int | None = None
        self.needs_attention = False
        self.lines: list[str] = []
        self._fallback_tried = False
        self._duty_tried = False

    @property
    def _day(self) -> str:
        return self.roster.day.isoformat()

    def _why_not(self, rep_id: int) -> str | None:
        return self.roster.unavailable([rep_id]).get(rep_id)

    def _on_duty(self) -> RepInfo | None:
        rep_id = self.roster.on_duty()
        return self.roster.rep(rep_id) if rep_id is not None else None

    # Endings

    def assign(self, rep: RepInfo) -> None:
        self.status, self.owner_id, self.needs_attention = ASSIGNED, rep.id, False
        self.lines.append(_("Assigned to %(rep)s.") % {"rep": rep.name})

    def disqualify(self) -> None:
        self.status, self.owner_id, self.pool_id, self.needs_attention = DISQUALIFIED, None, None, False
        self.lines.append(_("Disqualified: nobody is assigned."))

    def leave_unassigned(self) -> None:
        self.status, self.owner_id, self.needs_attention = UNASSIGNED, None, True
        self.lines.append(_("Nobody is available, not even in the fallback pool: the lead is left unassigned for the manager."))

    def on_duty_last(self, *, had_fallback_pool: bool = True) -> None:
        """Nobody in the rules' pools or the fallback pool could take the lead: the on-duty rep of the day takes
        it (no cap: like a pool's fallback owner, the rep on duty catches what the pools cannot); else nobody."""
        if self._duty_tried:  # a direct target's hand-over asked the on-duty rep already
            self.leave_unassigned()
            return
        self._duty_tried = True
        duty = self._on_duty()
        if duty is None:
            self.lines.append(_("Nobody is on duty on %(day)s.") % {"day": self._day})
            self.leave_unassigned()
            return
        reason = self._why_not(duty.id)
        if reason:
            self.lines.append(_("The on-duty rep %(rep)s is %(reason)s too.") % {"rep": duty.name, "reason": reason})
            self.leave_unassigned()
            return
        self.pool_id = None
        if had_fallback_pool:
            self.lines.append(_("Nobody in the fallback pool could take it: the on-duty rep %(rep)s takes it.") % {"rep": duty.name})
        else:
            self.lines.append(_("The on-duty rep %(rep)s takes it.") % {"rep": duty.name})
        self.assign(duty)

    # Intake targets

    def direct(self, rep_id: int | None, *, who: str) -> None:
        """A named rep; when unavailable, the on-duty rep of the day, else the fallback pool."""
        rep = self.roster.rep(rep_id) if rep_id is not None else None
        if rep is None:
            self.lines.append(_("%(who)s no longer exists: the lead goes to the fallback pool.") % {"who": who})
            self.fallback_pool()
            return
        reason = self._why_not(rep.id)
        if reason is None:
            self.assign(rep)
            return
        self.lines.append(_("%(who)s %(rep)s is %(reason)s: the lead goes to the on-duty rep.") % {"who": who, "rep": rep.name, "reason": reason})
        self._duty_tried = True
        duty = self._on_duty()
        if duty is None:
            self.lines.append(_("Nobody is on duty on %(day)s: the lead goes to the fallback pool.") % {"day": self._day})
            self.fallback_pool()
            return
        duty_reason = reason if duty.id == rep.id else self._why_not(duty.id)
        if duty_reason:
            self.lines.append(
                _("The on-duty rep %(rep)s is %(reason)s too: the lead goes to the fallback pool.") % {"rep": duty.name, "reason": duty_reason}
            )
            self.fallback_pool()
            return
        self.lines.append(_("On duty on %(day)s: %(rep)s.") % {"day": self._day, "rep": duty.name})
        self.assign(duty)

    def _pick_in(self, pool: PoolInfo) -> bool:
        rep_id, lines = pool_pick(pool, self.roster)
        self.lines.extend(lines)
        rep = self.roster.rep(rep_id) if rep_id is not None else None
        if rep is None:
            return False
        self.pool_id = pool.id
        self.assign(rep)
        return True

    def pool(self, pool_id: int | None) -> None:
        """Round robin in a pool; when nobody in it can take the lead, the fallback pool."""
        pool = self.roster.pool(pool_id) if pool_id is not None else None
        if pool is None:
            self.lines.append(_("The rule's pool no longer exists: the lead goes to the fallback pool."))
            self.fallback_pool()
            return
        if self._pick_in(pool):
            return
        if pool.is_fallback:
            self._fallback_tried = True
            self.on_duty_last()
            return
        self.lines.append(_("Nobody in %(pool)s can take the lead: it goes to the fallback pool.") % {"pool": pool.name})
        self.fallback_pool()

    def fallback_pool(self) -> None:
        """The routing fallback pool; when it is missing or nobody in it can take the lead, the on-duty rep."""
        if self._fallback_tried:
            self.on_duty_last()
            return
        self._fallback_tried = True
        pool = self.roster.fallback_pool()
        if pool is None:
            self.lines.append(_("No fallback pool is configured."))
            self.on_duty_last(had_fallback_pool=False)
            return
        if not self._pick_in(pool):
            self.on_duty_last()

    # The SLA's chain

    def _usable(self, rep: RepInfo, role: str, exclude: frozenset[int]) -> bool:
        if rep.id in exclude:
            self.lines.append(_("%(role)s %(rep)s skipped: already had this lead") % {"role": role, "rep": rep.name})
            return False
        why = self._why_not(rep.id)
        if why:
            self.lines.append(_("%(role)s %(rep)s skipped: %(why)s") % {"role": role, "rep": rep.name, "why": why})
            return False
        return True

    def _reassigned(self, rep_id: int) -> None:
        self.status, self.owner_id, self.needs_attention = ASSIGNED, rep_id, False

    def reassign(self, target: Reassign) -> None:
        """The step's rep; else the next available rep of the lead's pool; else the on-duty rep; else nobody."""
        self.status, self.needs_attention = UNASSIGNED, True
        step_rep = self.roster.rep(target.step_rep_id) if target.step_rep_id is not None else None
        if step_rep is not None and self._usable(step_rep, _("The step's rep"), target.exclude):
            self.lines.append(_("the step names %(rep)s") % {"rep": step_rep.name})
            self._reassigned(step_rep.id)
            return
        pool = self.roster.pool(target.pool_id) if target.pool_id is not None else None
        if pool is not None:
            rep_id, lines = pool_pick(pool, self.roster, exclude=target.exclude)
            self.lines.extend(lines)
            if rep_id is not None:
                self.pool_id = pool.id
                self._reassigned(rep_id)
                return
        duty = self._on_duty()
        if duty is None:
            self.lines.append(_("nobody is on duty on %(day)s") % {"day": self._day})
        elif self._usable(duty, _("On-duty rep"), target.exclude):
            self.lines.append(_("%(rep)s is on duty") % {"rep": duty.name})
            self._reassigned(duty.id)
