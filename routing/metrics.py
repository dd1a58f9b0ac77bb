"""Reads for the manager's dashboard: speed to lead, conversion, unhandled leads, quality, fairness, rule hits."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Avg, Count, Max, Q
from django.utils.translation import gettext as _

from routing.models import Lead, Rule

MEDIAN_SAMPLE = 20_000


@dataclass
class RepLine:
    name: str
    assigned: int
    share: float
    contacted: int
    open: int
    breached: int
    median_response_minutes: float | None


@dataclass
class Dashboard:
    since: datetime
    received: int
    by_status: dict[str, int]
    disqualified_share: float
    contacted_share: float
    median_response_minutes: float | None
    median_response_business_minutes: float | None
    avg_system_delay_seconds: float | None
    open_now: int
    breached_now: int
    needs_attention: int
    reps: list[RepLine] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    by_source: list[dict] = field(default_factory=list)


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(median(values), 1) if values else None


def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def dashboard(*, now: datetime, days: int = 30) -> Dashboard:
    since = now - timedelta(days=days)
    period = Lead.objects.filter(received_at__gte=since)
    received = period.count()
    by_status = dict(period.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    routed = received - by_status.get(Lead.Status.DISQUALIFIED, 0)
    contacted = by_status.get(Lead.Status.CONTACTED, 0)

    responded = period.filter(first_response_at__isnull=False)
    response_minutes = [s / 60 for s in responded.values_list("rep_delay_seconds", flat=True)[:MEDIAN_SAMPLE] if s is not None]
    business_minutes = list(responded.values_list("rep_delay_business_minutes", flat=True)[:MEDIAN_SAMPLE])
    open_leads = Lead.objects.filter(status=Lead.Status.ASSIGNED, first_response_at__isnull=True)

    per_rep = (
        period.filter(owner__isnull=False)
        .values("owner_id", "owner__name")
        .annotate(
            assigned=Count("id"),
            contacted=Count("id", filter=Q(first_response_at__isnull=False)),
        )
        .order_by("-assigned", "owner__name")
    )
    open_by_rep = dict(open_leads.values_list("owner_id").annotate(n=Count("id")).values_list("owner_id", "n"))
    breached_by_rep = dict(open_leads.filter(sla_due_at__lt=now).values_list("owner_id").annotate(n=Count("id")).values_list("owner_id", "n"))
    owned_total = sum(row["assigned"] for row in per_rep)
    reps = []
    for row in per_rep:
        delays = responded.filter(owner_id=row["owner_id"]).values_list("rep_delay_seconds", flat=True)[:MEDIAN_SAMPLE]
        reps.append(
            RepLine(
                name=row["owner__name"],
                assigned=row["assigned"],
                share=_share(row["assigned"], owned_total),
                contacted=row["contacted"],
                open=open_by_rep.get(row["owner_id"], 0),
                breached=breached_by_rep.get(row["owner_id"], 0),
                median_response_minutes=_median([d / 60 for d in delays if d is not None]),
            )
        )

    # By lineage: a lead matched by an earlier published version of a rule counts for the rule as it is now.
    hits_in_period = dict(period.filter(rule__isnull=False).values_list("rule__lineage").annotate(n=Count("id")).values_list("rule__lineage", "n"))
    rules = [
        {"name": rule.name, "active": rule.is_active, "position": rule.position, "period_hits": hits_in_period.get(rule.lineage, 0), "hits": rule.hits, "last_hit_at": rule.last_hit_at}
        for rule in Rule.objects.order_by("position", "id")
    ]
    rules.append({"name": _("— fallback pool —"), "active": True, "position": None, "period_hits": period.filter(rule__isnull=True).exclude(status=Lead.Status.DISQUALIFIED).count(), "hits": None, "last_hit_at": None})
    by_source = list(
        period.values("source")
        .annotate(n=Count("id"), disqualified=Count("id", filter=Q(status=Lead.Status.DISQUALIFIED)), contacted=Count("id", filter=Q(first_response_at__isnull=False)), last=Max("received_at"))
        .order_by("-n")
    )
    return Dashboard(
        since=since,
        received=received,
        by_status=by_status,
        disqualified_share=_share(by_status.get(Lead.Status.DISQUALIFIED, 0), received),
        contacted_share=_share(contacted, routed),
        median_response_minutes=_median(response_minutes),
        median_response_business_minutes=_median(business_minutes),
        avg_system_delay_seconds=period.aggregate(v=Avg("system_delay_seconds"))["v"],
        open_now=open_leads.count(),
        breached_now=open_leads.filter(sla_due_at__lt=now).count(),
        needs_attention=Lead.objects.filter(needs_attention=True, status=Lead.Status.UNASSIGNED).count(),
        reps=reps,
        rules=rules,
        by_source=by_source,
    )
