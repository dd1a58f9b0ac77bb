"""The in-memory roster: the resolver's `Roster` over plain data, for the what-if replay (and pure tests).

A `World` is the reps, pools, absences and on-duty rota as loaded once (routing.replay.load); a `RosterState`
holds what routing would have written meanwhile: pools' turns, reps' pool leads per day and their open leads
(a replay counts the leads it hands out, from zero like the daily loads: last month's answers are not replayed). `MemoryRoster` is
the world and that state seen from one day. The replay leaves reps' momentary status ("in a meeting", "away")
out of the world, since it says nothing about last month; a world built with statuses answers as today would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

from core.resolver import AWAY, IN_MEETING, PoolInfo, RepInfo


@dataclass(frozen=True)
class AbsenceInfo:
    starts_on: date
    ends_on: date
    reason: str = ""


@dataclass(frozen=True)
class World:
    reps: dict[int, RepInfo] = field(default_factory=dict)
    pools: dict[int, PoolInfo] = field(default_factory=dict)
    absences: dict[int, tuple[AbsenceInfo, ...]] = field(default_factory=dict)
    on_duty_overrides: dict[date, int] = field(default_factory=dict)
    on_duty_rota: dict[int, int] = field(default_factory=dict)  # weekday -> rep id

    @property
    def fallback_pool_id(self) -> int | None:
        return next((p.id for p in self.pools.values() if p.is_fallback), None)

    def unavailable(self, rep_id: int, day: date) -> str | None:
        """Why the rep cannot take a lead on `day`, worded as reps.selectors.reps_unavailable words it."""
        rep = self.reps.get(rep_id)
        if rep is None or not rep.is_active:
            return _("inactive")
        if rep.status == AWAY:
            return _("away")
        if rep.status == IN_MEETING:
            return _("in a meeting")
        covering = [a for a in self.absences.get(rep_id, ()) if a.starts_on <= day <= a.ends_on]
        if not covering:
            return None
        absence = max(covering, key=lambda a: a.ends_on)
        reason = _("out of office until %(until)s") % {"until": absence.ends_on.isoformat()}
        return f"{reason} ({absence.reason})" if absence.reason else reason

    def on_duty(self, day: date) -> int | None:
        return self.on_duty_overrides.get(day, self.on_duty_rota.get(day.weekday()))


@dataclass
class RosterState:
    """Pools' turns ({pool id: {rep id: score}}), pool leads counted per (rep id, day) and open leads per rep id
    (what a least-open pool compares: the caller counts each lead the run gives a rep, `lead_owned`)."""

    turns: dict[int, dict[int, int]] = field(default_factory=dict)
    loads: Counter[tuple[int, date]] = field(default_factory=Counter)
    open_leads: Counter[int] = field(default_factory=Counter)

    def lead_owned(self, rep_id: int | None) -> None:
        """The run gave the rep one more open lead (any target: a pool, a named rep, the on-duty rep)."""
        if rep_id is not None:
            self.open_leads[rep_id] += 1


class MemoryRoster:
    """`core.resolver.Roster` over a `World` and a `RosterState`, as of `day`; picks update the state."""

    def __init__(self, world: World, day: date, state: RosterState | None = None) -> None:
        self.world = world
        self.day = day
        self.state = state if state is not None else RosterState()

    def rep(self, rep_id: int) -> RepInfo | None:
        return self.world.reps.get(rep_id)

    def unavailable(self, rep_ids: Sequence[int]) -> Mapping[int, str]:
        reasons = {rep_id: self.world.unavailable(rep_id, self.day) for rep_id in rep_ids}
        return {rep_id: reason for rep_id, reason in reasons.items() if reason}

    def on_duty(self) -> int | None:
        return self.world.on_duty(self.day)

    def pool(self, pool_id: int) -> PoolInfo | None:
        return self.world.pools.get(pool_id)

    def fallback_pool(self) -> PoolInfo | None:
        pool_id = self.world.fallback_pool_id
        return self.world.pools.get(pool_id) if pool_id is not None else None

    def loads(self, rep_ids: Sequence[int]) -> Mapping[int, int]:
        return {rep_id: self.state.loads[(rep_id, self.day)] for rep_id in rep_ids}

    def open_leads(self, rep_ids: Sequence[int]) -> Mapping[int, int]:
        return {rep_id: self.state.open_leads[rep_id] for rep_id in rep_ids}

    def turn(self, pool: PoolInfo) -> Mapping[int, int]:
        return self.state.turns.get(pool.id, {})

    def take(self, rep_id: int, cap: int | None) -> bool:
        key = (rep_id, self.day)
        if cap is not None and self.state.loads[key] >= cap:
            return False
        self.state.loads[key] += 1
        return True

    def turn_keep(self, pool: PoolInfo, turn: Mapping[int, int], rep_id: int) -> None:
        self.state.turns[pool.id] = dict(turn)
