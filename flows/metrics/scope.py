"""What is measured: the period, team and source of a figure, the database aggregates (percentiles), and the
shared SLA conditions; used by the dashboard, the wall and the digest."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import NotSupportedError, connection
from django.db.models import Aggregate, Exists, F, FloatField, Func, OuterRef, Q, QuerySet
from django.utils import timezone

from reps.models import PoolMembership
from routing.models import Lead

PERCENTILE_SAMPLE = 20_000  # SQLite only: leads the percentiles are computed from
PRESETS = ("today", "7", "30", "90")
MAX_RANGE_DAYS = 366
IDLE_RULE_DAYS = 90
WALL_LIST_LIMIT = 8  # leads per list on the wall (the counts say how many in all)
OVERDUE_LIST_LIMIT = 10
# Rep delay in business minutes: the histogram's upper bounds (the last bucket is open-ended).
DELAY_BUCKETS = (5, 15, 30, 60, 120, 240)

OPEN_STATUSES = (Lead.Status.ASSIGNED, Lead.Status.UNASSIGNED)


# ---------------------------------------------------------------------------------------------- database helpers


class PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`: the interpolated percentile,
    NULLs ignored. Works with `filter=` and in GROUP BY queries; other databases raise NotSupportedError."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=repr(fraction), **extra)

    def as_sql(self, compiler, connection, **extra_context):
        if connection.vendor != "postgresql":
            raise NotSupportedError("percentile_cont needs PostgreSQL")
        return super().as_sql(compiler, connection, **extra_context)


class SecondsBetween(Func):
    """Seconds from the second datetime to the first, as a float, in the database."""

    arity = 2
    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision)", arg_joiner=" - ", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday(", **extra_context)


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """The same interpolation as PostgreSQL's percentile_cont, on sorted values."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


def _has_percentiles() -> bool:
    return connection.vendor == "postgresql"


# ---------------------------------------------------------------------------------------------- what is measured


@dataclass(frozen=True)
class Scope:
    """Which leads: received in [since, until), optionally only one team (pool) and one source."""

    since: datetime
    until: datetime
    pool_id: int | None = None
    source: str = ""
    preset: str = "30"  # today / 7 / 30 / 90 / custom

    @property
    def first_day(self) -> date:
        return timezone.localtime(self.since).date()

    @property
    def last_day(self) -> date:
        """The last local day in the period (until is exclusive)."""
        return timezone.localtime(self.until - timedelta(microseconds=1)).date()


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def scope_for(*, now: datetime, preset: str = "30", first: date | None = None, last: date | None = None, pool_id: int | None = None, source: str = "") -> Scope:
    """A period preset (today, 7, 30, 90 days back from now) or a custom range of local days, inclusive."""
    if preset == "custom" and first is not None and last is not None:
        if last < first:
            first, last = last, first
        last = min(last, first + timedelta(days=MAX_RANGE_DAYS - 1))
        return Scope(since=_local_midnight(first), until=_local_midnight(last + timedelta(days=1)), pool_id=pool_id, source=source, preset="custom")
    if preset == "today":
        return Scope(since=_local_midnight(timezone.localtime(now).date()), until=now, pool_id=pool_id, source=source, preset="today")
    days = int(preset) if preset in PRESETS else 30
    return Scope(since=now - timedelta(days=days), until=now, pool_id=pool_id, source=source, preset=str(days))


def week_scope(*, week_start: date) -> Scope:
    """Monday 00:00 to the next Monday 00:00, local time: one ISO week (the digest)."""
    return scope_for(now=_local_midnight(week_start), preset="custom", first=week_start, last=week_start + timedelta(days=6))


def leads_scoped(scope: Scope) -> QuerySet[Lead]:
    """Leads of the team and source (any time); a team's leads came through its pool or are owned by a member."""
    qs = Lead.objects.all()
    if scope.pool_id:
        member = PoolMembership.objects.filter(pool_id=scope.pool_id, rep_id=OuterRef("owner_id"))
        qs = qs.filter(Q(pool_id=scope.pool_id) | Q(Exists(member)))
    if scope.source:
        qs = qs.filter(source=scope.source)
    return qs


def leads_in_period(scope: Scope) -> QuerySet[Lead]:
    return leads_scoped(scope).filter(received_at__gte=scope.since, received_at__lt=scope.until)


def _sla_q(now: datetime) -> dict[str, Q]:
    """Filters for the SLA outcome of a lead with a clock (disqualified leads are never counted)."""
    clock = Q(sla_due_at__isnull=False) & ~Q(status=Lead.Status.DISQUALIFIED)
    return {
        "met": clock & Q(first_response_at__isnull=False, first_response_at__lte=F("sla_due_at")),
        "breached": clock & (Q(first_response_at__gt=F("sla_due_at")) | Q(first_response_at__isnull=True, sla_due_at__lte=now)),
        "pending": clock & Q(first_response_at__isnull=True, sla_due_at__gt=now),
    }


def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60.0, 1)
