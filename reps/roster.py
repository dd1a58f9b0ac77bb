"""The database rosters: the resolver's `Roster` (core.resolver) over the reps app's tables.

`PreviewRoster` reads what intake reads and writes nothing (preview, "Test a lead"). `LockingRoster` is intake's
and the SLA reassignment's: it locks a pool's row (SELECT ... FOR UPDATE) before reading its members, loads,
open leads (a least-open pool) and turn, counts a pick with a conditional UPDATE that cannot pass a daily cap (`_load_add`), and writes the turn
back, so concurrent intakes are served strictly in turn until the caller's transaction ends. Both keep the
model instances they read, so callers get the owner and pool as `Rep` / `Pool` without another query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery

from core.resolver import OPEN_STATUS, PoolInfo, RepInfo
from reps.models import Absence, Pool, PoolMembership, Rep, RepDayLoad
from reps.selectors import on_duty_rep, reps_unavailable


def _rep_info(rep: Rep) -> RepInfo:
    return RepInfo(id=rep.pk, name=rep.name, is_active=rep.is_active, status=rep.current_status, weight=rep.weight, daily_cap=rep.daily_cap)


def _turn_parsed(rotation: object) -> dict[int, int]:
    """The stored turn state {"current": {"<rep id>": score}, ...} as {rep id: score}; junk is dropped."""
    current = rotation.get("current") if isinstance(rotation, dict) else None
    turn: dict[int, int] = {}
    for key, value in (current if isinstance(current, dict) else {}).items():
        try:
            turn[int(key)] = int(value)
        except (TypeError, ValueError):
            continue
    return turn


class PreviewRoster:
    """Reads only: no lock, no write. The answer is the one `LockingRoster` would give right now."""

    def __init__(self, *, day: date) -> None:
        self.day = day
        self._reps: dict[int, Rep | None] = {}
        self._pools: dict[int, Pool] = {}
        self._absences: dict[int, Absence | None] = {}  # rep id: the absence covering the day (None: none)
        self._loads: dict[int, int] = {}  # rep id: pool leads counted on the day

    # Model instances for the caller

    def know(self, *reps: Rep | None) -> None:
        """Reps the caller has loaded already (saves a query when the resolver asks for them)."""
        for rep in reps:
            if rep is not None:
                self._reps[rep.pk] = rep

    def rep_model(self, rep_id: int | None) -> Rep | None:
        return self._reps.get(rep_id) if rep_id is not None else None

    def pool_model(self, pool_id: int | None) -> Pool | None:
        return self._pools.get(pool_id) if pool_id is not None else None

    # core.resolver.Roster

    def rep(self, rep_id: int) -> RepInfo | None:
        if rep_id not in self._reps:
            self._reps[rep_id] = Rep.objects.filter(pk=rep_id).first()
        rep = self._reps[rep_id]
        return _rep_info(rep) if rep is not None else None

    def unavailable(self, rep_ids: Sequence[int]) -> Mapping[int, str]:
        for rep_id in rep_ids:
            self.rep(rep_id)
        reps = [rep for rep in (self._reps[rep_id] for rep_id in dict.fromkeys(rep_ids)) if rep is not None]
        known = all(rep.pk in self._absences for rep in reps)  # read with the pool's members: no query
        return reps_unavailable(reps=reps, on=self.day, absences=self._absences if known else None) if reps else {}

    def on_duty(self) -> int | None:
        rep = on_duty_rep(on=self.day)
        self.know(rep)
        return rep.pk if rep is not None else None

    def _pool_rows(self) -> QuerySet[Pool]:
        return Pool.objects.select_related("fallback_rep")

    def _membership_rows(self) -> QuerySet[PoolMembership]:
        """A pool's members with their pool, each rep's absence covering the day and their day load: one query for
        what the resolver asks of a pool (the locking roster adds FOR UPDATE OF the pool's row)."""
        covering = Absence.objects.filter(rep_id=OuterRef("rep_id"), starts_on__lte=self.day, ends_on__gte=self.day).order_by("-ends_on", "-id")
        return PoolMembership.objects.select_related("pool", "pool__fallback_rep", "rep").annotate(
            absence_id=Subquery(covering.values("id")[:1]),
            absence_reason=Subquery(covering.values("reason")[:1]),
            absence_ends_on=Subquery(covering.values("ends_on")[:1]),
            load_today=Subquery(RepDayLoad.objects.filter(rep_id=OuterRef("rep_id"), day=self.day).values("assigned")[:1]),
        )

    def _pool_found(self, **where: object) -> PoolInfo | None:
        memberships = list(self._membership_rows().filter(**{f"pool__{name}": value for name, value in where.items()}).order_by("position", "id"))
        if memberships:
            pool = memberships[0].pool
            memberships = [m for m in memberships if m.pool_id == pool.pk]
        else:  # no members: the pool row alone (its fallback owner may still take the lead)
            pool = self._pool_rows().filter(**where).first()
        if pool is None:
            return None
        self._pools[pool.pk] = pool
        self.know(pool.fallback_rep, *(m.rep for m in memberships))
        for m in memberships:
            self._absences[m.rep_id] = (
                Absence(pk=m.absence_id, rep_id=m.rep_id, reason=m.absence_reason or "", ends_on=m.absence_ends_on) if m.absence_id else None
            )
            self._loads[m.rep_id] = m.load_today or 0
        return PoolInfo(
            id=pool.pk,
            name=pool.name,
            members=tuple((m.rep_id, m.effective_weight) for m in memberships),
            fallback_rep_id=pool.fallback_rep_id,
            is_fallback=pool.is_fallback,
            strategy=pool.strategy,
        )

    def pool(self, pool_id: int) -> PoolInfo | None:
        return self._pool_found(pk=pool_id)

    def fallback_pool(self) -> PoolInfo | None:
        return self._pool_found(is_fallback=True)

    def loads(self, rep_ids: Sequence[int]) -> Mapping[int, int]:
        if all(rep_id in self._loads for rep_id in rep_ids):  # read with the pool's members
            return {rep_id: self._loads[rep_id] for rep_id in rep_ids}
        return dict(RepDayLoad.objects.filter(rep_id__in=list(rep_ids), day=self.day).values_list("rep_id", "assigned"))

    def open_leads(self, rep_ids: Sequence[int]) -> Mapping[int, int]:
        """One grouped query over the reps' own leads (`Rep.leads`, the reverse of Lead.owner: reps sits below
        routing and names the relation, never the model). In a locking roster the pool row is already locked."""
        # filter() before annotate(): one join on the open leads only (indexed status), grouped by rep; no row: 0.
        rows = Rep.objects.filter(pk__in=list(rep_ids), leads__status=OPEN_STATUS).values("pk").annotate(open=Count("leads"))
        return {row["pk"]: row["open"] for row in rows}

    def turn(self, pool: PoolInfo) -> Mapping[int, int]:
        return _turn_parsed(self._pools[pool.id].rotation)

    def take(self, rep_id: int, cap: int | None) -> bool:
        return True

    def turn_keep(self, pool: PoolInfo, turn: Mapping[int, int], rep_id: int) -> None:
        return None


class LockingRoster(PreviewRoster):
    """Intake's roster: pool rows locked until the caller's transaction ends; picks counted and turns written.

    Use it inside `transaction.atomic` (the services that build it are atomic).
    """

    def _pool_rows(self) -> QuerySet[Pool]:
        return super()._pool_rows().select_for_update(of=("self",))

    def _membership_rows(self) -> QuerySet[PoolMembership]:
        # Only the pool's row is locked (not the members', reps' or loads'): concurrent intakes of one pool queue
        # here, and the turn they read is the one the previous intake wrote (PostgreSQL re-reads a row it waited for).
        return super()._membership_rows().select_for_update(of=("pool",))

    def take(self, rep_id: int, cap: int | None) -> bool:
        taken = _load_add(rep_id=rep_id, day=self.day, cap=cap)
        if taken and rep_id in self._loads:
            self._loads[rep_id] += 1
        return taken

    def turn_keep(self, pool: PoolInfo, turn: Mapping[int, int], rep_id: int) -> None:
        row = self._pools[pool.id]
        row.rotation = {"current": {str(key): value for key, value in turn.items()}, "last_rep_id": rep_id}
        Pool.objects.filter(pk=pool.id).update(rotation=row.rotation)


def _load_add(*, rep_id: int, day: date, cap: int | None) -> bool:
    """Count one more pool lead for the rep on `day` unless that would pass `cap`; False when capped.

    One statement, atomic on both backends: the day's row is inserted with 1, or, when it exists, raised by one only
    while it is under the cap (INSERT ... ON CONFLICT DO UPDATE ... WHERE, PostgreSQL and SQLite ≥ 3.35); a row comes
    back exactly when the lead was counted. So two pools sharing a rep cannot both take the rep's last slot, and two
    transactions creating the day's row at once both count (the second one's insert becomes the update).
    """
    if cap is not None and cap <= 0:
        return False
    table = connection.ops.quote_name(RepDayLoad._meta.db_table)
    rep_col, day_col, assigned = (connection.ops.quote_name(RepDayLoad._meta.get_field(name).column) for name in ("rep", "day", "assigned"))
    under_cap = f" WHERE {table}.{assigned} < %s" if cap is not None else ""
    sql = (
        f"INSERT INTO {table} ({rep_col}, {day_col}, {assigned}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({rep_col}, {day_col}) DO UPDATE SET {assigned} = {table}.{assigned} + 1{under_cap} RETURNING {assigned}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [rep_id, RepDayLoad._meta.get_field("day").get_db_prep_value(day, connection), *([cap] if cap is not None else [])])
        return cursor.fetchone() is not None
