"""Writes of the reps app: picking a pool's next rep, rep status and absences."""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import resolver
from reps.models import Absence, Pool, Rep
from reps.roster import LockingRoster, PreviewRoster


def _day(now: datetime) -> date:
    """The working day `now` falls on, in the project's time zone (settings.TIME_ZONE)."""
    return timezone.localdate(now) if timezone.is_aware(now) else now.date()


@transaction.atomic
def pool_pick_rep(*, pool: Pool, now: datetime, exclude: frozenset[int] | set[int] = frozenset(), preview: bool = False) -> tuple[Rep | None, list[str]]:
    """The pool's next rep in turn, and a line for each rep skipped and for the choice (core.resolver.pool_pick).

    Weighted smooth round robin in membership order; skips reps who are away, in a meeting, out of office,
    inactive, at their daily cap or in `exclude` (rep ids, e.g. the owner being reassigned from). When nobody is
    left, the pool's fallback owner (if available). The pool row is locked (SELECT ... FOR UPDATE) until the
    caller's transaction ends, so concurrent intakes are served strictly in turn. `preview=True` gives the same
    answer without locking or writing anything.
    """
    roster = PreviewRoster(day=_day(now)) if preview else LockingRoster(day=_day(now))
    info = roster.pool(pool.pk)
    if info is None:
        raise Pool.DoesNotExist(f"pool {pool.pk} does not exist")
    rep_id, lines = resolver.pool_pick(info, roster, exclude=frozenset(exclude))
    return roster.rep_model(rep_id), lines


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
