"""What the pool page shows a manager (read-only): who is next in turn and each member's load today.

"Next in turn" is the answer routing would give for a lead right now: the resolver's pool pick on the preview
roster (`reps.services.pool_pick_rep(preview=True)`: same strategy (round robin or fewest open leads), same skips
for away, out of office and daily caps, no lock, nothing written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from reps.models import Pool, PoolMembership, RepDayLoad
from reps.roster import PreviewRoster
from reps.selectors import reps_unavailable
from reps.services import pool_pick_rep


@dataclass(frozen=True)
class MemberDay:
    name: str
    assigned: int
    daily_cap: int | None
    unavailable: str  # "" when available
    open_leads: int = 0  # assigned, not yet contacted (what a least-open pool compares)


def pool_next_rep(*, pool: Pool, now: datetime | None = None) -> tuple[str, list[str]]:
    """The name of the rep the pool's next lead would go to ("" for nobody) and the resolver's lines."""
    rep, lines = pool_pick_rep(pool=pool, now=now or timezone.now(), preview=True)
    return (rep.name if rep is not None else ""), [str(line) for line in lines]


def pool_loads_today(*, pool: Pool, now: datetime | None = None) -> list[MemberDay]:
    """Each member in round-robin order with the pool leads taken today, the cap, why not available and the open
    leads they hold (counted as the least-open pick counts them)."""
    day = timezone.localdate(now or timezone.now())
    members = [m.rep for m in PoolMembership.objects.filter(pool=pool).select_related("rep").order_by("position", "id")]
    loads = dict(RepDayLoad.objects.filter(rep__in=members, day=day).values_list("rep_id", "assigned"))
    away = reps_unavailable(reps=members, on=day) if members else {}
    open_leads = PreviewRoster(day=day).open_leads([rep.pk for rep in members]) if members else {}
    return [
        MemberDay(name=rep.name, assigned=loads.get(rep.pk, 0), daily_cap=rep.daily_cap, unavailable=away.get(rep.pk, ""), open_leads=open_leads.get(rep.pk, 0))
        for rep in members
    ]
