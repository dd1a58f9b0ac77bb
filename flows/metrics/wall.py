"""The office wall (breached, due soon, unassigned, today's speed, each rep's load) and the leads list export."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from flows.metrics.dashboard import RepLine, _reps_with_load, _speed_percentiles, rep_status
from flows.metrics.scope import OPEN_STATUSES, WALL_LIST_LIMIT, Scope, _minutes, leads_in_period, scope_for
from reps.models import Rep
from routing.models import Lead
from sla.selectors import DUE_SOON

# ---------------------------------------------------------------------------------------------- the wall


@dataclass
class Wall:
    now: datetime
    breached: list[Lead]
    breached_count: int
    due_soon: list[Lead]
    due_soon_count: int
    unassigned: list[Lead]
    unassigned_count: int
    today_received: int
    today_responded: int
    today_median_minutes: float | None
    reps: list[RepLine]


def wall(*, now: datetime) -> Wall:
    """The office TV: what is burning now, today's speed to lead, each rep's load and status. Seven queries."""
    open_leads = Lead.objects.filter(status__in=OPEN_STATUSES, first_response_at__isnull=True)
    breached_q = Q(sla_due_at__lte=now)
    due_soon_q = Q(sla_due_at__gt=now, sla_due_at__lte=now + DUE_SOON)
    unassigned_q = Q(status=Lead.Status.UNASSIGNED)
    counts = open_leads.aggregate(
        breached=Count("id", filter=breached_q), due_soon=Count("id", filter=due_soon_q), unassigned=Count("id", filter=unassigned_q)
    )
    listed = open_leads.select_related("owner")
    breached = list(listed.filter(breached_q).order_by("sla_due_at", "id")[:WALL_LIST_LIMIT])
    due_soon = list(listed.filter(due_soon_q).order_by("sla_due_at", "id")[:WALL_LIST_LIMIT])
    unassigned = list(listed.filter(unassigned_q).order_by("received_at", "id")[:WALL_LIST_LIMIT])
    for lead in breached + due_soon:
        lead.minutes_left = math.floor((lead.sla_due_at - now).total_seconds() / 60)
        lead.minutes_late = -lead.minutes_left
    for lead in unassigned:
        lead.minutes_waiting = max(0, math.floor((now - lead.received_at).total_seconds() / 60))

    today = leads_in_period(scope_for(now=now, preset="today"))
    today_counts = today.aggregate(received=Count("id"), responded=Count("id", filter=Q(first_response_at__isnull=False)))
    speed, _sampled = _speed_percentiles(today.filter(first_response_at__isnull=False), today_counts["responded"])

    reps = []
    for rep in _reps_with_load(now=now, scope=None):
        code, label = rep_status(rep, out_of_office=rep.out_today)
        until = rep.status_until if code in (Rep.Status.IN_MEETING, Rep.Status.AWAY) else None
        reps.append(
            RepLine(id=rep.pk, name=rep.name, open=rep.open_now, breached=rep.breached_now, status=code, status_label=label, status_until=until)
        )
    return Wall(
        now=now,
        breached=breached,
        breached_count=counts["breached"],
        due_soon=due_soon,
        due_soon_count=counts["due_soon"],
        unassigned=unassigned,
        unassigned_count=counts["unassigned"],
        today_received=today_counts["received"],
        today_responded=today_counts["responded"],
        today_median_minutes=_minutes(speed["total"].median),
        reps=reps,
    )


# ---------------------------------------------------------------------------------------------- the leads list


LEAD_CSV_FIELDS = (
    "id", "received_at", "submitted_at", "status", "source", "email", "first_name", "last_name", "company", "job_title", "phone",
    "city", "region", "postal_code", "company_size", "industry", "language", "owner__name", "pool__name", "rule__name", "priority",
    "sla_policy__name", "sla_due_at", "first_response_at", "system_delay_seconds", "rep_delay_seconds", "rep_delay_business_minutes",
)  # fmt: skip


def leads_for_export(scope: Scope) -> QuerySet:
    """The period's leads as rows of LEAD_CSV_FIELDS, oldest first (iterate with .iterator(): memory stays flat)."""
    return leads_in_period(scope).order_by("received_at", "id").values_list(*LEAD_CSV_FIELDS)
