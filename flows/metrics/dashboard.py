"""The manager's dashboard: speed to lead (median, p90, system and rep delay), SLA met and breached per rep and
policy, conversion, quality, distribution per rep and pool (zeros included), rule hits, leads per day.

Just over 500 lines on purpose: `dashboard()` reads the whole page in a fixed number of queries, and its result
types sit beside it; split, a reader would chase one page across modules."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Avg, BooleanField, Count, Exists, ExpressionWrapper, F, Max, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from flows.metrics.scope import (
    DELAY_BUCKETS,
    IDLE_RULE_DAYS,
    OPEN_STATUSES,
    OVERDUE_LIST_LIMIT,
    PERCENTILE_SAMPLE,
    PercentileCont,
    Scope,
    SecondsBetween,
    _has_percentiles,
    _minutes,
    _share,
    _sla_q,
    leads_in_period,
    leads_scoped,
    percentile_cont,
)
from reps.models import Absence, Pool, PoolMembership, Rep
from routing.models import Lead, Rule
from sla.selectors import DUE_SOON

# ---------------------------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class Percentiles:
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class SpeedToLead:
    """Medians and 90th percentiles in minutes (system delay in seconds: it is seconds)."""

    responded: int
    total_minutes: Percentiles  # submitted -> first response, wall clock
    system_seconds: Percentiles  # submitted -> assigned
    rep_minutes: Percentiles  # assigned -> first response, wall clock
    rep_business_minutes: Percentiles  # assigned -> first response, business minutes
    sampled: int | None = None  # SQLite: computed from this many most recent leads, when the period had more
    buckets: list[tuple[str, int]] = field(default_factory=list)  # rep delay histogram (business minutes)


@dataclass
class SlaLine:
    name: str
    met: int = 0
    breached: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        return self.met + self.breached

    @property
    def met_rate(self) -> float:
        return _share(self.met, self.decided)

    @property
    def breach_rate(self) -> float:
        return _share(self.breached, self.decided)


@dataclass
class RepLine:
    id: int
    name: str
    assigned: int = 0
    share: float = 0.0
    contacted: int = 0
    open: int = 0  # now: owned, not yet contacted
    breached: int = 0  # now: owned, not contacted, past the deadline
    median_response_minutes: float | None = None  # rep delay, wall clock
    p90_response_minutes: float | None = None
    sla: SlaLine | None = None
    status: str = ""  # available / in_meeting / away / out_of_office
    status_label: str = ""
    status_until: datetime | None = None  # when "in a meeting" / "away" ends by itself
    is_member: bool = True  # shown with zero leads (an active rep, in the team when one is chosen)


@dataclass(frozen=True)
class CountLine:
    name: str
    n: int
    share: float = 0.0


@dataclass(frozen=True)
class SourceLine:
    source: str
    n: int
    routed: int
    disqualified: int
    contacted: int
    last: datetime | None

    @property
    def contacted_share(self) -> float:
        return _share(self.contacted, self.routed)

    @property
    def disqualified_share(self) -> float:
        return _share(self.disqualified, self.n)


@dataclass(frozen=True)
class DayLine:
    day: date
    received: int
    breached: int


@dataclass
class Dashboard:
    since: datetime
    received: int
    by_status: dict[str, int]
    disqualified_share: float
    contacted_share: float
    median_response_minutes: float | None  # speed to lead: submitted -> first response, wall clock
    median_response_business_minutes: float | None  # rep delay in business minutes
    avg_system_delay_seconds: float | None
    open_now: int
    breached_now: int
    needs_attention: int
    until: datetime | None = None
    scope: Scope | None = None
    routed: int = 0
    contacted: int = 0
    disqualified: int = 0
    due_soon_now: int = 0
    unassigned_now: int = 0
    speed: SpeedToLead | None = None
    sla: SlaLine | None = None
    unhandled: list[CountLine] = field(default_factory=list)
    reps: list[RepLine] = field(default_factory=list)  # reps who had leads in the period (speed and SLA per rep)
    distribution: list[RepLine] = field(default_factory=list)  # every active rep (of the team), zero included
    pools: list[CountLine] = field(default_factory=list)
    policies: list[SlaLine] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    idle_rules: list[dict] = field(default_factory=list)  # active rules without a hit in IDLE_RULE_DAYS
    by_source: list[SourceLine] = field(default_factory=list)
    days: list[DayLine] = field(default_factory=list)
    source_choices: list[str] = field(default_factory=list)
    pool_choices: list[tuple[int, str]] = field(default_factory=list)
    overdue: list[Lead] = field(default_factory=list)  # now: the longest-overdue open leads (of the team and source)


# ---------------------------------------------------------------------------------------------- percentiles


SPEED_EXPRESSIONS = {
    "total": lambda: SecondsBetween(F("first_response_at"), F("submitted_at")),
    "system": lambda: F("system_delay_seconds"),
    "rep": lambda: F("rep_delay_seconds"),
    "rep_business": lambda: F("rep_delay_business_minutes"),
}


def _speed_percentiles(responded: QuerySet[Lead], count: int) -> tuple[dict[str, Percentiles], int | None]:
    """{name: Percentiles} of SPEED_EXPRESSIONS over the responded leads, in the units stored. One query."""
    if _has_percentiles():
        aggregates = {}
        for name, expression in SPEED_EXPRESSIONS.items():
            aggregates[f"{name}_50"] = PercentileCont(expression(), 0.5)
            aggregates[f"{name}_90"] = PercentileCont(expression(), 0.9)
        row = responded.aggregate(**aggregates)
        return {name: Percentiles(row[f"{name}_50"], row[f"{name}_90"]) for name in SPEED_EXPRESSIONS}, None
    names = list(SPEED_EXPRESSIONS)
    rows = list(
        responded.annotate(**{f"v_{name}": SPEED_EXPRESSIONS[name]() for name in names})
        .order_by("-received_at", "-id")
        .values_list(*[f"v_{name}" for name in names])[:PERCENTILE_SAMPLE]
    )
    result = {}
    for i, name in enumerate(names):
        values = sorted(float(row[i]) for row in rows if row[i] is not None)
        result[name] = Percentiles(percentile_cont(values, 0.5), percentile_cont(values, 0.9))
    return result, (len(rows) if count > PERCENTILE_SAMPLE else None)


def _rep_delay_percentiles_by_owner(responded: QuerySet[Lead]) -> dict[int, Percentiles]:
    """{owner id: rep delay percentiles in seconds}. One query."""
    if _has_percentiles():
        rows = (
            responded.filter(owner__isnull=False)
            .order_by()
            .values("owner_id")
            .annotate(p50=PercentileCont(F("rep_delay_seconds"), 0.5), p90=PercentileCont(F("rep_delay_seconds"), 0.9))
        )
        return {row["owner_id"]: Percentiles(row["p50"], row["p90"]) for row in rows}
    grouped: dict[int, list[float]] = defaultdict(list)
    sample = responded.filter(owner__isnull=False, rep_delay_seconds__isnull=False).order_by("-received_at", "-id")
    for owner_id, seconds in sample.values_list("owner_id", "rep_delay_seconds")[:PERCENTILE_SAMPLE]:
        grouped[owner_id].append(float(seconds))
    result = {}
    for owner_id, values in grouped.items():
        values.sort()
        result[owner_id] = Percentiles(percentile_cont(values, 0.5), percentile_cont(values, 0.9))
    return result


def _scaled(p: Percentiles, *, by: float = 1.0) -> Percentiles:
    def one(value):
        return None if value is None else round(value / by, 1)

    return Percentiles(one(p.median), one(p.p90))


def _bucket_labels() -> list[str]:
    labels, low = [], 0
    for high in DELAY_BUCKETS:
        labels.append(f"{low}–{high}")
        low = high
    labels.append(f"{low}+")
    return labels


def _bucket_aggregates() -> dict[str, Count]:
    aggregates, low = {}, 0
    for i, high in enumerate(DELAY_BUCKETS):
        aggregates[f"bucket_{i}"] = Count("id", filter=Q(rep_delay_business_minutes__gte=low, rep_delay_business_minutes__lt=high))
        low = high
    aggregates[f"bucket_{len(DELAY_BUCKETS)}"] = Count("id", filter=Q(rep_delay_business_minutes__gte=low))
    return aggregates


# ---------------------------------------------------------------------------------------------- reps


def rep_status(rep: Rep, *, out_of_office: bool) -> tuple[str, str]:
    """(code, label) of the effective status: out of office (an absence today) wins over the rep's own status,
    and "in a meeting" / "away" until a time that has passed is over (`Rep.current_status`)."""
    if out_of_office:
        return "out_of_office", _("Out of office")
    status = rep.current_status
    return status, str(Rep.Status(status).label) if status in Rep.Status.values else status


def _reps_with_load(*, now: datetime, scope: Scope | None, extra_ids: QuerySet | None = None) -> list[Rep]:
    """Active reps (of the team), plus those in `extra_ids`, with their open load now and whether they are out
    of office today. One query."""
    today = timezone.localtime(now).date()
    shown = Q(is_active=True)
    if scope is not None and scope.pool_id:
        shown &= Q(Exists(PoolMembership.objects.filter(pool_id=scope.pool_id, rep_id=OuterRef("pk"))))
    is_member = shown
    if extra_ids is not None:
        shown |= Q(pk__in=extra_ids)
    open_lead = Q(leads__status=Lead.Status.ASSIGNED, leads__first_response_at__isnull=True)
    if scope is not None and scope.source:
        open_lead &= Q(leads__source=scope.source)
    return list(
        Rep.objects.filter(shown)
        .annotate(
            open_now=Count("leads", filter=open_lead),
            breached_now=Count("leads", filter=open_lead & Q(leads__sla_due_at__lte=now)),
            out_today=Exists(Absence.objects.filter(rep_id=OuterRef("pk"), starts_on__lte=today, ends_on__gte=today)),
            member=ExpressionWrapper(is_member, output_field=BooleanField()),
        )
        .order_by("name", "pk")
    )


# ---------------------------------------------------------------------------------------------- the dashboard


def dashboard(
    *,
    now: datetime,
    days: int = 30,
    scope: Scope | None = None,
) -> Dashboard:
    """Every figure of the manager's dashboard for the scope (default: the last `days` days, every lead)."""
    if scope is None:
        scope = Scope(since=now - timedelta(days=days), until=now, preset=str(days))
    period = leads_in_period(scope)
    sla_q = _sla_q(now)
    unhandled = Q(first_response_at__isnull=True) & ~Q(status=Lead.Status.DISQUALIFIED)

    # 1. Totals of the period.
    totals = period.aggregate(
        received=Count("id"),
        disqualified=Count("id", filter=Q(status=Lead.Status.DISQUALIFIED)),
        contacted=Count("id", filter=Q(first_response_at__isnull=False)),
        assigned=Count("id", filter=Q(status=Lead.Status.ASSIGNED)),
        unassigned=Count("id", filter=Q(status=Lead.Status.UNASSIGNED)),
        contacted_status=Count("id", filter=Q(status=Lead.Status.CONTACTED)),
        met=Count("id", filter=sla_q["met"]),
        breached=Count("id", filter=sla_q["breached"]),
        pending=Count("id", filter=sla_q["pending"]),
        unhandled_unassigned=Count("id", filter=unhandled & Q(status=Lead.Status.UNASSIGNED)),
        unhandled_breached=Count("id", filter=unhandled & Q(status=Lead.Status.ASSIGNED) & Q(sla_due_at__isnull=False, sla_due_at__lte=now)),
        unhandled_running=Count("id", filter=unhandled & Q(status=Lead.Status.ASSIGNED) & Q(sla_due_at__gt=now)),
        unhandled_no_clock=Count("id", filter=unhandled & Q(status=Lead.Status.ASSIGNED) & Q(sla_due_at__isnull=True)),
        fallback=Count("id", filter=Q(rule__isnull=True) & ~Q(status=Lead.Status.DISQUALIFIED)),
        avg_system_delay=Avg("system_delay_seconds"),
        **_bucket_aggregates(),
    )
    received = totals["received"]
    routed = received - totals["disqualified"]
    by_status = {
        status: n
        for status, n in (
            (Lead.Status.ASSIGNED, totals["assigned"]),
            (Lead.Status.UNASSIGNED, totals["unassigned"]),
            (Lead.Status.CONTACTED, totals["contacted_status"]),
            (Lead.Status.DISQUALIFIED, totals["disqualified"]),
        )
        if n
    }

    # 2. Speed to lead.
    responded = period.filter(first_response_at__isnull=False)
    speed_raw, sampled = _speed_percentiles(responded, totals["contacted"])
    buckets = [(label, totals[f"bucket_{i}"]) for i, label in enumerate(_bucket_labels())]
    speed = SpeedToLead(
        responded=totals["contacted"],
        total_minutes=_scaled(speed_raw["total"], by=60),
        system_seconds=_scaled(speed_raw["system"]),
        rep_minutes=_scaled(speed_raw["rep"], by=60),
        rep_business_minutes=_scaled(speed_raw["rep_business"]),
        sampled=sampled,
        buckets=buckets,
    )

    # 3. Open leads now (of the team and source, whenever received).
    open_leads = leads_scoped(scope).filter(status__in=OPEN_STATUSES, first_response_at__isnull=True)
    current = open_leads.aggregate(
        open_now=Count("id", filter=Q(status=Lead.Status.ASSIGNED)),
        breached_now=Count("id", filter=Q(sla_due_at__lte=now)),
        due_soon_now=Count("id", filter=Q(sla_due_at__gt=now, sla_due_at__lte=now + DUE_SOON)),
        unassigned_now=Count("id", filter=Q(status=Lead.Status.UNASSIGNED)),
        needs_attention=Count("id", filter=Q(status=Lead.Status.UNASSIGNED, needs_attention=True)),
    )

    overdue = list(open_leads.filter(sla_due_at__lte=now).select_related("owner").order_by("sla_due_at", "id")[:OVERDUE_LIST_LIMIT])
    for lead in overdue:
        lead.minutes_late = math.floor((now - lead.sla_due_at).total_seconds() / 60)

    # 4. Per rep: the period's counts by owner, percentiles by owner, and the reps to show (zero included).
    per_owner = {
        row["owner_id"]: row
        for row in period.filter(owner__isnull=False)
        .order_by()
        .values("owner_id")
        .annotate(
            assigned=Count("id"),
            contacted=Count("id", filter=Q(first_response_at__isnull=False)),
            met=Count("id", filter=sla_q["met"]),
            breached=Count("id", filter=sla_q["breached"]),
            pending=Count("id", filter=sla_q["pending"]),
        )
    }
    delays = _rep_delay_percentiles_by_owner(responded)
    owned_total = sum(row["assigned"] for row in per_owner.values())
    distribution: list[RepLine] = []
    for rep in _reps_with_load(now=now, scope=scope, extra_ids=period.filter(owner__isnull=False).values("owner_id")):
        row = per_owner.get(rep.pk, {})
        delay = delays.get(rep.pk, Percentiles(None, None))
        code, label = rep_status(rep, out_of_office=rep.out_today)
        distribution.append(
            RepLine(
                id=rep.pk,
                name=rep.name,
                assigned=row.get("assigned", 0),
                share=_share(row.get("assigned", 0), owned_total),
                contacted=row.get("contacted", 0),
                open=rep.open_now,
                breached=rep.breached_now,
                median_response_minutes=_minutes(delay.median),
                p90_response_minutes=_minutes(delay.p90),
                sla=SlaLine(name=rep.name, met=row.get("met", 0), breached=row.get("breached", 0), pending=row.get("pending", 0)),
                status=code,
                status_label=label,
                is_member=rep.member,
            )
        )
    reps = sorted((line for line in distribution if line.assigned), key=lambda line: (-line.assigned, line.name))

    # 5. Per pool (zero included) and per SLA policy.
    per_pool = dict(period.filter(pool__isnull=False).order_by().values_list("pool_id").annotate(n=Count("id")).values_list("pool_id", "n"))
    pool_rows = list(Pool.objects.order_by("name").values_list("id", "name"))
    pooled_total = sum(per_pool.values())
    shown_pools = [(pk, name) for pk, name in pool_rows if not scope.pool_id or pk == scope.pool_id]
    pools = [CountLine(name=name, n=per_pool.get(pk, 0), share=_share(per_pool.get(pk, 0), pooled_total)) for pk, name in shown_pools]
    policies = [
        SlaLine(name=row["sla_policy__name"], met=row["met"], breached=row["breached"], pending=row["pending"])
        for row in period.filter(sla_policy__isnull=False, sla_due_at__isnull=False)
        .order_by()
        .values("sla_policy_id", "sla_policy__name", "sla_policy__position")
        .annotate(met=Count("id", filter=sla_q["met"]), breached=Count("id", filter=sla_q["breached"]), pending=Count("id", filter=sla_q["pending"]))
        .order_by("sla_policy__position", "sla_policy_id")
    ]

    # 6. Rules: hits in the period and in the last 90 days, by lineage (a rule counts its earlier versions' leads).
    hits_in_period = dict(period.filter(rule__isnull=False).order_by().values_list("rule__lineage").annotate(n=Count("id")).values_list("rule__lineage", "n"))
    recent = Lead.objects.filter(received_at__gte=now - timedelta(days=IDLE_RULE_DAYS), rule__isnull=False)
    hits_recent = dict(recent.order_by().values_list("rule__lineage").annotate(n=Count("id")).values_list("rule__lineage", "n"))
    rules = []
    for rule in Rule.objects.order_by("position", "id"):
        rules.append(
            {
                "name": rule.name,
                "active": rule.is_active,
                "position": rule.position,
                "period_hits": hits_in_period.get(rule.lineage, 0),
                "hits": rule.hits,
                "last_hit_at": rule.last_hit_at,
                "recent_hits": hits_recent.get(rule.lineage, 0),
                "idle": rule.is_active and not hits_recent.get(rule.lineage),
            }
        )
    idle_rules = [rule for rule in rules if rule["idle"]]
    rules.append(
        {
            "name": _("No rule matched (fallback pool)"),
            "active": True,
            "position": None,
            "period_hits": totals["fallback"],
            "hits": None,
            "last_hit_at": None,
            "recent_hits": None,
            "idle": False,
        }
    )

    # 7. Per source and per day.
    by_source = [
        SourceLine(source=row["source"], n=row["n"], routed=row["n"] - row["disqualified"], disqualified=row["disqualified"], contacted=row["contacted"], last=row["last"])
        for row in period.order_by()
        .values("source")
        .annotate(
            n=Count("id"),
            disqualified=Count("id", filter=Q(status=Lead.Status.DISQUALIFIED)),
            contacted=Count("id", filter=Q(first_response_at__isnull=False)),
            last=Max("received_at"),
        )
        .order_by("-n", "source")
    ]
    per_day = {
        row["day"]: row
        for row in period.annotate(day=TruncDate("received_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day")
        .annotate(n=Count("id"), breached=Count("id", filter=sla_q["breached"]))
    }
    days_list, day = [], scope.first_day
    while day <= scope.last_day:
        row = per_day.get(day, {})
        days_list.append(DayLine(day=day, received=row.get("n", 0), breached=row.get("breached", 0)))
        day += timedelta(days=1)

    # 8. What the filters offer.
    source_choices = sorted(s for s in Lead.objects.order_by().values_list("source", flat=True).distinct() if s)

    return Dashboard(
        since=scope.since,
        until=scope.until,
        scope=scope,
        received=received,
        by_status=by_status,
        routed=routed,
        contacted=totals["contacted"],
        disqualified=totals["disqualified"],
        disqualified_share=_share(totals["disqualified"], received),
        contacted_share=_share(totals["contacted"], routed),
        median_response_minutes=speed.total_minutes.median,
        median_response_business_minutes=speed.rep_business_minutes.median,
        avg_system_delay_seconds=totals["avg_system_delay"],
        open_now=current["open_now"],
        breached_now=current["breached_now"],
        due_soon_now=current["due_soon_now"],
        unassigned_now=current["unassigned_now"],
        needs_attention=current["needs_attention"],
        speed=speed,
        sla=SlaLine(name=_("All leads"), met=totals["met"], breached=totals["breached"], pending=totals["pending"]),
        unhandled=[
            CountLine(_("Unassigned leads"), totals["unhandled_unassigned"]),
            CountLine(_("Past the SLA, not contacted"), totals["unhandled_breached"]),
            CountLine(_("Within the SLA, not contacted yet"), totals["unhandled_running"]),
            CountLine(_("No SLA clock, not contacted"), totals["unhandled_no_clock"]),
        ],
        reps=reps,
        distribution=distribution,
        pools=pools,
        policies=policies,
        rules=rules,
        idle_rules=idle_rules,
        by_source=by_source,
        days=days_list,
        source_choices=source_choices,
        pool_choices=pool_rows,
        overdue=overdue,
    )
