"""What-if replay, step 1: the bulk reads. The leads of the period, the world their pools run in, and their facts.

Everything is read up front with a fixed number of queries (facts once per distinct domain and place, the
repeat facts in one query), so the simulation that follows (routing.replay.simulate) touches no database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime

from django.db.models import Case, When

from core import engine
from core.memory_roster import AbsenceInfo, World
from core.resolver import PoolInfo, RepInfo
from reps import selectors as rep_selectors
from reps.models import Absence, OnDutyOverride, OnDutyRota, Pool, PoolMembership, Rep
from reps.vocabularies import fields_read, vocabulary_active
from routing.models import Lead, Rule, RuleTable
from routing.ruleset import _FACT_FIELDS, REPEAT_LOOKBACK

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


def replay_leads(*, since: datetime, until: datetime, limit: int = DEFAULT_LIMIT) -> list[Lead]:
    """The newest `limit` leads received in [since, until), oldest first (the order they were routed in)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    newest = list(Lead.objects.filter(received_at__gte=since, received_at__lt=until).select_related("rule").order_by("-received_at", "-id")[:limit])
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


class FactsCache:
    """Facts of many leads with one lookup per distinct domain and place, and the repeat facts in one query."""

    def __init__(self, leads: list[Lead]) -> None:
        self.domains: dict[str, tuple[frozenset[int], engine.AccountFact | None]] = {}
        self.places: dict[tuple[str, str, int | None], engine.TerritoryFact | None] = {}
        self.vocabulary = vocabulary_active()  # region and industry read as lead_facts reads them
        emails = {lead.email_key for lead in leads if lead.email_key}
        top = max((lead.pk for lead in leads), default=0)
        self.earlier: dict[str, list[tuple[int, int | None]]] = defaultdict(list)  # email -> [(id, stored owner)] newest first
        if emails:
            for lead_id, email, owner_id in Lead.objects.filter(email_key__in=emails, pk__lt=top).order_by("-id").values_list("id", "email_key", "owner_id"):
                self.earlier[email].append((lead_id, owner_id))

    def base(self, lead: Lead) -> engine.LeadFacts:
        """The lead's facts without the repeat fact (which depends on the run: see `repeat`)."""
        domain = lead.email_domain or ""
        if domain not in self.domains:
            self.domains[domain] = (rep_selectors.domain_lists_for(domain=domain), rep_selectors.account_for_domain(domain=domain))
        lists, account = self.domains[domain]
        place = (lead.region_key or "", lead.city_key or "", lead.postal_code_num)
        if place not in self.places:
            self.places[place] = rep_selectors.territory_for(
                region_key=place[0], city_key=place[1], postal_code_num=place[2], vocabulary=self.vocabulary
            )
        return engine.LeadFacts(
            fields=fields_read({name: getattr(lead, name, None) for name in _FACT_FIELDS}, vocabulary=self.vocabulary),
            extra=lead.extra if isinstance(lead.extra, dict) else {},
            email_domain=domain,
            domain_list_ids=lists,
            account=account,
            territory=self.places[place],
        )

    def repeat(self, lead: Lead, owner_of: Callable[[int, int | None], int | None]) -> engine.RepeatFact | None:
        """As routing.ruleset.lead_repeat: leads before this one (by id) with the same e-mail, newest first.
        `owner_of(lead id, stored owner id)` gives an earlier lead's owner in the run."""
        rows = [(i, owner_of(i, o)) for i, o in self.earlier.get(lead.email_key, ()) if i < lead.pk][:REPEAT_LOOKBACK]
        if not rows:
            return None
        previous = next(((i, o) for i, o in rows if o is not None), (rows[0][0], None))
        return engine.RepeatFact(earlier_lead_ids=tuple(i for i, _o in rows), previous_lead_id=previous[0], previous_owner_id=previous[1])
