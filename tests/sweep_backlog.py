"""A backlog of open leads for the SLA sweep's benchmark and its query-count test, stored with `bulk_create`
(not through intake: 100 000 leads through the API would take an hour).

Every lead is routed to a Demo pool rep (kasia, marek, ola) under the demo's Critical policy (remind at 15 business
minutes, reassign at 30, alert the team lead at 90), with its deadline and next step stored as intake stores them.
An *open* lead was submitted 5 minutes before `now`: its first step is 10 minutes away. A *due* lead was submitted 20
minutes before `now`: its reminder (15 minutes) is due, its reassignment (30) is not, so a sweep at `now` fires
exactly one step per due lead and leaves the open ones alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

from django.db import connection

from reps.models import Pool
from routing.models import IntakeSource, Lead
from sla.models import SlaPolicy

WARSAW = ZoneInfo("Europe/Warsaw")
# A working Tuesday at noon: the office (Mon-Fri 08:00-16:00) is open, so due steps fire.
SWEEP_NOW = datetime(2026, 11, 17, 12, 0, tzinfo=WARSAW)
OPEN_AGE = timedelta(minutes=5)
DUE_AGE = timedelta(minutes=20)
BATCH = 5_000

_numbers = count()


def _critical_policy() -> SlaPolicy:
    return SlaPolicy.objects.get(is_active=True, response_minutes=15)


def backlog_add(*, source: IntakeSource, open_count: int, due_count: int, now: datetime = SWEEP_NOW) -> list[int]:
    """Store `open_count` open leads and `due_count` leads with a step due at `now`; returns the due leads' ids."""
    policy = _critical_policy()
    pool = Pool.objects.prefetch_related("memberships").get(name="Demo")
    owners = [m.rep_id for m in pool.memberships.all()]
    due_step = min(step.after_minutes for step in policy.steps.all())
    assert due_step == 15, "the demo's Critical chain starts with a reminder at 15 business minutes"

    def lead(age: timedelta) -> Lead:
        n = next(_numbers)
        submitted = now - age
        email = f"zalegly{n}@firma{n % 997}.example"
        return Lead(
            intake_source=source,
            email=email,
            email_key=email,
            email_domain=email.split("@")[1],
            company=f"Firma {n % 997}",
            source="demo_request",
            submitted_at=submitted,
            received_at=submitted,
            status=Lead.Status.ASSIGNED,
            owner_id=owners[n % len(owners)],
            pool=pool,
            assigned_at=submitted,
            priority=policy.priority,
            sla_policy=policy,
            sla_due_at=submitted + timedelta(minutes=policy.response_minutes),
            sla_next_step_at=submitted + timedelta(minutes=due_step),
        )

    for start in range(0, open_count, BATCH):
        Lead.objects.bulk_create([lead(OPEN_AGE) for _ in range(min(BATCH, open_count - start))], batch_size=BATCH)
    due = Lead.objects.bulk_create([lead(DUE_AGE) for _ in range(due_count)], batch_size=BATCH)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what autovacuum would have done after so many inserts
            cursor.execute(f"ANALYZE {Lead._meta.db_table}")
    return [lead.pk for lead in due]


def open_leads_count(*, now: datetime = SWEEP_NOW) -> int:
    return Lead.objects.filter(sla_next_step_at__gt=now).count()


def due_plan() -> str:
    """How the database finds the due leads (PostgreSQL's EXPLAIN; "" elsewhere)."""
    if connection.vendor != "postgresql":
        return ""
    query = Lead.objects.filter(sla_next_step_at__lte=SWEEP_NOW).order_by("sla_next_step_at", "id").values_list("id", flat=True)
    return query.explain()
