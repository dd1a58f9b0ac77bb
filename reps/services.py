"""Writes of the reps app: picking a pool's next rep, rep status and absences."""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from reps.models import Absence, Pool, PoolMembership, Rep, RepDayLoad
from reps.selectors import reps_unavailable


def _day(now: datetime) -> date:
    """The working day `now` falls on, in the project's time zone (settings.TIME_ZONE)."""
    return timezone.localdate(now) if timezone.is_aware(now) else now.date()


def _smooth_weighted_pick(candidates: list[tuple[PoolMembership, int]], current: dict[str, int]) -> tuple[PoolMembership, dict[str, int]]:
    """Smooth weighted round robin (as in nginx): every candidate gains its weight, the highest is picked and
    pays back the total. Equal weights give plain round robin in membership order; weights 2:1 give a, b, a, ...
    spread out rather than a, a, b. Ties go to the earlier member."""
    total = sum(weight for _m, weight in candidates)
    state = dict(current)
    best: PoolMembership | None = None
    best_score = 0
    for membership, weight in candidates:
        key = str(membership.rep_id)
        state[key] = int(state.get(key, 0)) + weight
        if best is None or state[key] > best_score:
            best, best_score = membership, state[key]
    assert best is not None
    state[str(best.rep_id)] -= total
    return best, state


def _rotation_current(pool: Pool, member_ids: set[int]) -> dict[str, int]:
    rotation = pool.rotation if isinstance(pool.rotation, dict) else {}
    current = rotation.get("current") if isinstance(rotation.get("current"), dict) else {}
    clean: dict[str, int] = {}
    for key, value in current.items():
        try:
            if int(key) in member_ids:
                clean[str(int(key))] = int(value)
        except (TypeError, ValueError):
            continue
    return clean


def _load_add(*, rep: Rep, day: date, cap: int | None) -> bool:
    """Count one more pool lead for `rep` on `day` unless that would pass `cap`; False when capped.

    The conditional UPDATE is atomic, so two pools sharing a rep cannot both take the rep's last slot.
    """
    loads = RepDayLoad.objects.filter(rep=rep, day=day)
    if cap is not None:
        loads = loads.filter(assigned__lt=cap)
    if loads.update(assigned=F("assigned") + 1):
        return True
    if cap is not None and cap <= 0:
        return False
    if RepDayLoad.objects.filter(rep=rep, day=day).exists():
        return False  # the row exists, so the update above failed on the cap
    try:
        with transaction.atomic():
            RepDayLoad.objects.create(rep=rep, day=day, assigned=1)
        return True
    except IntegrityError:  # created meanwhile by another transaction: count on it
        return _load_add(rep=rep, day=day, cap=cap)


@transaction.atomic
def pool_pick_rep(*, pool: Pool, now: datetime, exclude: frozenset[int] | set[int] = frozenset(), preview: bool = False) -> tuple[Rep | None, list[str]]:
    """The pool's next rep in turn, and a line for each rep skipped and for the choice.

    Weighted smooth round robin in membership order; skips reps who are away, in a meeting, out of office,
    inactive, at their daily cap or in `exclude` (rep ids, e.g. the owner being reassigned from). When nobody is
    left, the pool's fallback owner (if available). The pool row is locked (SELECT ... FOR UPDATE) until the
    caller's transaction ends, so concurrent intakes are served strictly in turn. `preview=True` gives the same
    answer without locking or writing anything.
    """
    exclude = frozenset(exclude)
    pools = Pool.objects.select_related("fallback_rep")
    if not preview:
        pools = pools.select_for_update(of=("self",))
    pool = pools.get(pk=pool.pk)
    day = _day(now)
    memberships = list(PoolMembership.objects.filter(pool=pool).select_related("rep").order_by("position", "id"))
    reps = [m.rep for m in memberships]
    unavailable = reps_unavailable(reps=reps, on=day)
    loads = dict(RepDayLoad.objects.filter(rep__in=reps, day=day).values_list("rep_id", "assigned")) if reps else {}

    lines: list[str] = []
    candidates: list[tuple[PoolMembership, int]] = []
    for membership in memberships:
        rep = membership.rep
        if rep.pk in exclude:
            lines.append(_("%(pool)s: %(rep)s skipped: already had this lead") % {"pool": pool.name, "rep": rep.name})
            continue
        if rep.pk in unavailable:
            lines.append(_("%(pool)s: %(rep)s skipped: %(reason)s") % {"pool": pool.name, "rep": rep.name, "reason": unavailable[rep.pk]})
            continue
        if rep.daily_cap is not None and loads.get(rep.pk, 0) >= rep.daily_cap:
            lines.append(_("%(pool)s: %(rep)s skipped: reached the daily cap of %(cap)s") % {"pool": pool.name, "rep": rep.name, "cap": rep.daily_cap})
            continue
        weight = membership.effective_weight
        if weight <= 0:
            lines.append(_("%(pool)s: %(rep)s skipped: weight 0") % {"pool": pool.name, "rep": rep.name})
            continue
        candidates.append((membership, weight))

    current = _rotation_current(pool, {m.rep_id for m in memberships})
    while candidates:
        chosen, state = _smooth_weighted_pick(candidates, current)
        rep = chosen.rep
        if not preview and not _load_add(rep=rep, day=day, cap=rep.daily_cap):
            # Capped meanwhile through another pool: skip and pick again.
            lines.append(_("%(pool)s: %(rep)s skipped: reached the daily cap of %(cap)s") % {"pool": pool.name, "rep": rep.name, "cap": rep.daily_cap})
            candidates = [c for c in candidates if c[0].pk != chosen.pk]
            continue
        if not preview:
            pool.rotation = {"current": state, "last_rep_id": rep.pk}
            Pool.objects.filter(pk=pool.pk).update(rotation=pool.rotation)
        lines.append(_("%(pool)s: %(rep)s is next in turn") % {"pool": pool.name, "rep": rep.name})
        return rep, lines

    if not memberships:
        lines.append(_("%(pool)s has no members") % {"pool": pool.name})
    else:
        lines.append(_("%(pool)s: nobody in the pool can take the lead") % {"pool": pool.name})
    fallback = pool.fallback_rep
    if fallback is None:
        return None, lines
    reason = reps_unavailable(reps=[fallback], on=day).get(fallback.pk)
    if reason or fallback.pk in exclude:
        lines.append(
            _("%(pool)s: fallback owner %(rep)s skipped: %(reason)s")
            % {"pool": pool.name, "rep": fallback.name, "reason": reason or _("already had this lead")}
        )
        return None, lines
    if not preview:
        _load_add(rep=fallback, day=day, cap=None)  # the overflow owner takes what the members cannot: no cap
    lines.append(_("%(pool)s: the lead goes to the pool's fallback owner %(rep)s") % {"pool": pool.name, "rep": fallback.name})
    return fallback, lines


@transaction.atomic
def rep_status_set(*, rep: Rep, status: str) -> Rep:
    """Available / in a meeting / away: what the rep says about themselves right now."""
    if status not in Rep.Status.values:
        raise ValidationError({"status": _("Unknown status “%(status)s”.") % {"status": status}})
    rep.status = status
    Rep.objects.filter(pk=rep.pk).update(status=status)
    return rep


@transaction.atomic
def absence_add(*, rep: Rep, starts_on: date, ends_on: date, reason: str = "") -> Absence:
    """Out-of-office days (inclusive); pools skip the rep and direct leads go to the on-duty rep on these days."""
    if ends_on < starts_on:
        raise ValidationError({"ends_on": _("The last day of an absence cannot be before its first day.")})
    absence = Absence(rep=rep, starts_on=starts_on, ends_on=ends_on, reason=(reason or "").strip()[:200])
    absence.full_clean()
    absence.save()
    return absence


@transaction.atomic
def absence_delete(*, absence: Absence) -> None:
    absence.delete()


# ---------------------------------------------------------------------------------------------- pools: the routing fallback


@transaction.atomic
def pool_fallback_set(*, pool: Pool) -> Pool:
    """Make `pool` THE routing fallback (leads no rule matches go to it); the pool that was it stops being it.

    The rows of the current fallback pool and of `pool` are locked (SELECT ... FOR UPDATE, in primary-key order)
    before the flag moves, so two switches at once are served one after the other: the later one wins and there
    is never a second fallback pool (the `one_fallback_pool` constraint guarantees it). When there was no fallback
    pool there is no row both can lock: the second switch meets the first's flag in the constraint and tries
    again, now seeing it. `pool` must be saved.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                held = Pool.objects.filter(is_fallback=True) | Pool.objects.filter(pk=pool.pk)
                list(held.select_for_update().order_by("pk").values_list("pk", flat=True))
                Pool.objects.filter(is_fallback=True).exclude(pk=pool.pk).update(is_fallback=False)
                Pool.objects.filter(pk=pool.pk).update(is_fallback=True)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    pool.is_fallback = True
    return pool
