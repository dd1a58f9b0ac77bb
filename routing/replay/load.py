"""What-if replay, step 1: the bulk reads. The leads of the period, the world their pools run in, and (in
routing.replay.facts) their facts.

Everything is read up front with a fixed number of queries, whatever the number of leads, reps and pools, so the
simulation that follows (routing.replay.simulate) touches no database.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from django.db.models import Case, F, When

from core.memory_roster import AbsenceInfo, World
from core.resolver import PoolInfo, RepInfo
from reps.models import Absence, OnDutyOverride, OnDutyRota, Pool, PoolMembership, Rep
from routing.models import Lead, Rule, RuleTable
from routing.ruleset import _FACT_FIELDS

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


# The columns of a lead the replay reads: its facts (routing.ruleset's fields and normalised copies), what the
# drill-down shows and what it is compared with (owner, rule). Not the stored why and score breakdown: JSON that
# became Messages line by line on reading, the largest part of reading a lead, and the replay writes its own.
REPLAY_COLUMNS = (
    *_FACT_FIELDS,
    "extra",
    "email_key",
    "region_key",
    "city_key",
    "postal_code_num",
    "received_at",
    "owner",
    "rule",
)


def replay_leads(*, since: datetime, until: datetime, limit: int = DEFAULT_LIMIT) -> list[Lead]:
    """The newest `limit` leads received in [since, until), oldest first (the order they were routed in), with only
    REPLAY_COLUMNS (reading another field would be a query per lead) and their rule's lineage as `rule_lineage`."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    leads = Lead.objects.filter(received_at__gte=since, received_at__lt=until).only(*REPLAY_COLUMNS).annotate(rule_lineage=F("rule__lineage"))
    newest = list(leads.order_by("-received_at", "-id")[:limit])
    return sorted(newest, key=lambda lead: lead.pk)


def world_load(*, since: date, until: date) -> World:
    """Reps, pools, the absences and on-duty overrides of [since, until], and the rota. Reps' momentary status
    ("in a meeting", "away") is left out: it says nothing about last month."""
    reps = {r.pk: RepInfo(id=r.pk, name=r.name, is_active=r.is_active, weight=r.weight, daily_cap=r.daily_cap) for r in Rep.objects.all()}
    members: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for m in PoolMembership.objects.select_related("rep").order_by("position", "id"):
        members[m.pool_id].append((m.rep_id, m.effective_weight))
    pools = {
        p.pk: PoolInfo(
            id=p.pk, name=p.name, members=tuple(members.get(p.pk, ())), fallback_rep_id=p.fallback_rep_id, is_fallback=p.is_fallback, strategy=p.strategy
        )
        for p in Pool.objects.all()
    }
    absences: dict[int, list[AbsenceInfo]] = defaultdict(list)
    for a in Absence.objects.filter(starts_on__lte=until, ends_on__gte=since):
        absences[a.rep_id].append(AbsenceInfo(starts_on=a.starts_on, ends_on=a.ends_on, reason=a.reason))
    return World(
        reps=reps,
        pools=pools,
        absences={k: tuple(v) for k, v in absences.items()},
        on_duty_overrides=dict(OnDutyOverride.objects.filter(date__gte=since, date__lte=until).values_list("date", "rep_id")),
        on_duty_rota=dict(OnDutyRota.objects.values_list("weekday", "rep_id")),
    )


def rule_rows(*, table: RuleTable) -> dict[int, tuple[str, str]]:
    """{rule id: (lineage, name)} of the live table and `table`; the live table's rows first, so the draft's
    names win for a rule in both."""
    live_id = RuleTable.objects.filter(status=RuleTable.Status.LIVE).values_list("pk", flat=True).first()
    return {
        pk: (str(lineage), name)
        for pk, lineage, name in Rule.all_tables.filter(table__in=[live_id, table.pk])
        .order_by(Case(When(table_id=table.pk, then=1), default=0))
        .values_list("id", "lineage", "name")
    }
