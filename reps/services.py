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


PERSONAL_CHANNEL_KINDS = ("slack", "teams", "sms")  # a rep's own channels besides e-mail (notifications.owner_notify)


@transaction.atomic
def rep_notify_noncritical_set(*, rep: Rep, kinds: list[str]) -> Rep:
    """The rep's own choice of the channels (besides e-mail, which always goes out) that also tell them of leads that
    are not critical; a critical lead still comes over every channel they asked for."""
    unknown = sorted(set(kinds) - set(PERSONAL_CHANNEL_KINDS))
    if unknown:
        raise ValidationError({"kinds": _("Unknown channel “%(kind)s”.") % {"kind": unknown[0]}})
    rep = Rep.objects.select_for_update().get(pk=rep.pk)
    rep.notify_noncritical = [kind for kind in PERSONAL_CHANNEL_KINDS if kind in kinds]
    rep.save(update_fields=["notify_noncritical"])
    return rep


@transaction.atomic
def rep_status_set(*, rep: Rep, status: str, until: datetime | None = None) -> Rep:
    """Available / in a meeting / away: what the rep says about themselves right now; "in a meeting" or "away" may
    end by itself at `until` (then the rep is available again: `Rep.current_status`, `rep_statuses_expire`)."""
    if status not in Rep.Status.values:
        raise ValidationError({"status": _("Unknown status “%(status)s”.") % {"status": status}})
    if status == Rep.Status.AVAILABLE:
        until = None
    elif until is not None and until <= timezone.now():
        raise ValidationError({"until": _("Choose a time in the future.")})
    rep.status, rep.status_until = status, until
    Rep.objects.filter(pk=rep.pk).update(status=status, status_until=until)
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


# ---------------------------------------------------------------------------------------------- the rep's day


@transaction.atomic
def rep_statuses_expire(*, now: datetime) -> int:
    """Reps whose "in a meeting" / "away" has run out (`status_until` passed) are available again. Readers already
    treat them so (`Rep.current_status`); this makes the stored row agree. Returns how many changed."""
    return Rep.objects.exclude(status=Rep.Status.AVAILABLE).filter(status_until__lte=now).update(status=Rep.Status.AVAILABLE, status_until=None)


@transaction.atomic
def absences_from_calendar_sync(*, rep: Rep, events: list[tuple[str, date, date, str]], today: date) -> dict[str, int]:
    """Make the rep's calendar absences match `events` ((uid, first day, last day, summary), from reps.ics) from
    `today` on: new ones created, changed ones updated, gone ones deleted. Typed-in absences are never touched;
    past calendar absences stay as history."""
    mine = {a.uid: a for a in Absence.objects.select_for_update().filter(rep=rep, source=Absence.Source.CALENDAR, ends_on__gte=today)}
    counts = {"created": 0, "updated": 0, "deleted": 0}
    seen: set[str] = set()
    for uid, starts_on, ends_on, summary in events:
        if ends_on < today or uid in seen or ends_on < starts_on:
            continue
        seen.add(uid)
        reason = (summary or "").strip()[:200]
        found = mine.get(uid)
        if found is None:
            Absence.objects.create(rep=rep, starts_on=starts_on, ends_on=ends_on, reason=reason, source=Absence.Source.CALENDAR, uid=uid[:300])
            counts["created"] += 1
        elif (found.starts_on, found.ends_on, found.reason) != (starts_on, ends_on, reason):
            found.starts_on, found.ends_on, found.reason = starts_on, ends_on, reason
            found.save(update_fields=["starts_on", "ends_on", "reason"])
            counts["updated"] += 1
    gone = [a.pk for uid, a in mine.items() if uid not in seen]
    if gone:
        counts["deleted"] = Absence.objects.filter(pk__in=gone).delete()[0]
    return counts


@transaction.atomic
def rep_calendar_url_set(*, rep: Rep, url: str) -> Rep:
    """The rep's out-of-office calendar (an http(s) ICS address; empty: none). Clearing it removes the upcoming
    absences it made; typed-in ones stay."""
    url = (url or "").strip()
    if url and not url.lower().startswith(("http://", "https://")):
        raise ValidationError({"calendar_url": _("Give an http or https address of an iCal (ICS) calendar.")})
    rep.calendar_url = url
    rep.full_clean(validate_unique=False, validate_constraints=False)
    Rep.objects.filter(pk=rep.pk).update(calendar_url=url)
    if not url:
        Absence.objects.filter(rep=rep, source=Absence.Source.CALENDAR, ends_on__gte=timezone.localdate()).delete()
    return rep
