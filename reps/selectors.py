"""Reads of the reps app: availability, the on-duty rep, and the lookups routing builds a lead's facts from.

Each function runs a fixed number of indexed queries, whatever the size of the tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import reduce
from operator import or_

from django.db import connection, models
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL

from core import facts
from core.compiled_sql import CompiledQuery
from core.engine import AccountFact, TerritoryFact
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from core.text import ascii_domain
from reps.domain_packages import builtins_holding
from reps.models import (
    Absence,
    AccountDomain,
    DomainList,
    DomainListEntry,
    OnDutyOverride,
    OnDutyRota,
    PostalRange,
    Rep,
    Territory,
    TerritoryCity,
    TerritoryRegion,
)
from reps.postal_ranges import OwnedRange, range_conflicts
from reps.vocabularies import REGION, Vocabulary, vocabulary_active


def _status_reason(rep: Rep) -> str | None:
    if not rep.is_active:
        return _("inactive")
    status = rep.current_status  # "in a meeting until 14:00" is over at 14:00, whether or not the sweep ran
    if status == Rep.Status.AWAY:
        return _("away")
    if status == Rep.Status.IN_MEETING:
        return _("in a meeting")
    return None


def _absence_reason(absence: Absence) -> str:
    reason = _("out of office until %(until)s") % {"until": absence.ends_on.isoformat()}
    if absence.reason:
        reason += f" ({absence.reason})"
    return reason


def reps_unavailable(*, reps: Iterable[Rep], on: date, absences: Mapping[int, Absence | None] | None = None) -> dict[int, str]:
    """{rep id: why not available on `on`} for those who are not: inactive, away, in a meeting, out of office. One query,
    none with `absences` ({rep id: the absence covering `on`, or None}, read already: reps.roster)."""
    reps = list(reps)
    reasons: dict[int, str] = {}
    for rep in reps:
        reason = _status_reason(rep)
        if reason:
            reasons[rep.pk] = reason
    others = [rep.pk for rep in reps if rep.pk not in reasons]
    if others and absences is not None:
        for rep_id in others:
            if absences.get(rep_id) is not None:
                reasons[rep_id] = _absence_reason(absences[rep_id])
    elif others:
        for absence in Absence.objects.filter(rep_id__in=others, starts_on__lte=on, ends_on__gte=on).order_by("-ends_on"):
            reasons.setdefault(absence.rep_id, _absence_reason(absence))
    return reasons


def rep_is_available(*, rep: Rep, on: date) -> tuple[bool, str]:
    """Can `rep` take a lead on the day `on`? (True, "") or (False, "away" / "in a meeting" / "out of office until …")."""
    reason = reps_unavailable(reps=[rep], on=on).get(rep.pk)
    return (reason is None, reason or "")


def on_duty_rep(*, on: date) -> Rep | None:
    """Who catches leads whose direct target is unavailable on `on`: the override for the date, else the weekly rota.

    Returns the rep as configured; callers check `rep_is_available` themselves.
    """
    override = OnDutyOverride.objects.select_related("rep").filter(date=on).first()
    if override is not None:
        return override.rep
    rota = OnDutyRota.objects.select_related("rep").filter(weekday=on.weekday()).first()
    return rota.rep if rota is not None else None


def team_leads() -> list[Rep]:
    """The active team leads, by name: who SLA alerts and "team lead" / "management" notices reach."""
    return list(Rep.objects.filter(is_team_lead=True, is_active=True).order_by("name", "pk"))


def domain_candidates(domain: str) -> list[str]:
    """The domain and its parents with at least two labels: "pl.bigbank.example" -> itself, "bigbank.example"."""
    domain = (domain or "").strip().lower().rstrip(".")
    if not domain or len(domain) > 253:
        return []
    labels = domain.split(".")
    candidates = [".".join(labels[i:]) for i in range(0, max(len(labels) - 1, 1))][:10]
    # Entries are stored IDNA-normalised as Unicode ("żabka.pl"); one kept from before as "xn--..." matches too.
    return candidates + [ascii_domain(c) for c in candidates if not c.isascii()]


# A lead's facts by e-mail domain (its domain lists and its account) come from one query: the rows below, in the
# shape (kind, id, number, text, name) that routing also gives its earlier-leads rows, so that intake reads all of
# them in ONE union (routing.ruleset.lead_facts). Each fact is read from the rows by one function here.
FACT_ROW = ("fact_kind", "fact_id", "fact_number", "fact_text", "fact_name")
KIND_LIST, KIND_ACCOUNT = "list", "account"


def fact_row_columns(kind: str, fact_id: object, number: object = None, text: object = "", name: object = "") -> dict:
    """The annotations of one fact row: its kind, an id, a number (or None), a text and a name (or ""); each an
    expression (F("field")) or a constant."""

    def column(value: object, field: models.Field) -> object:
        return value if hasattr(value, "resolve_expression") else Value(value, output_field=field)

    return {
        "fact_kind": Value(kind, output_field=models.CharField()),
        "fact_id": column(fact_id, models.BigIntegerField()),
        "fact_number": column(number, models.BigIntegerField()),
        "fact_text": column(text, models.CharField()),
        "fact_name": column(name, models.CharField()),
    }


def domain_fact_terms(domain: str) -> tuple[list[str], list[str]]:
    """What the domain facts of `domain` are looked up by: its candidates (itself and its parents) and the built-in
    packages holding one of them (an in-memory set), for `domain_fact_query`."""
    candidates = domain_candidates(domain)
    return candidates, sorted(builtins_holding(candidates)) if candidates else []


def domain_fact_rows(*, domain: str) -> QuerySet | None:
    """The rows the domain-list and account facts of `domain` (or a parent of it) are read from, as one query; None
    when the domain has no candidates (`domain_fact_query`)."""
    candidates, builtins = domain_fact_terms(domain)
    return domain_fact_query(candidates=candidates, builtins=builtins)


def domain_fact_query(*, candidates: Sequence[str], builtins: Sequence[str]) -> QuerySet | None:
    """The fact rows of a domain given its `domain_fact_terms`; None without candidates. Entries: (list, list id, 1
    for an exception, domain, ""); built-in packages that hold the domain: (list, list id, 0, "", ""); account
    domains: (account, account id, manager id, domain, account name). Values only as filters, so the query can be
    compiled once per shape (core.compiled_sql)."""
    if not candidates:
        return None
    rows = (
        DomainListEntry.objects.filter(domain__in=candidates)
        .order_by()
        .annotate(
            **fact_row_columns(
                KIND_LIST,
                F("domain_list_id"),
                Case(When(is_exception=True, then=Value(1)), default=Value(0), output_field=models.BigIntegerField()),
                F("domain"),
            )
        )
        .values_list(*FACT_ROW)
    )
    if builtins:
        lists = DomainList.objects.filter(builtin__in=list(builtins)).order_by().annotate(**fact_row_columns(KIND_LIST, F("id"), 0))
        rows = rows.union(lists.values_list(*FACT_ROW), all=True)
    accounts = (
        AccountDomain.objects.filter(domain__in=candidates)
        .order_by()
        .annotate(**fact_row_columns(KIND_ACCOUNT, F("account_id"), F("account__manager_id"), F("domain"), F("account__name")))
        .values_list(*FACT_ROW)
    )
    return rows.union(accounts, all=True)


def domain_lists_read(rows: Iterable[tuple]) -> frozenset[int]:
    """Ids of the domain lists holding the domain, from its fact rows: a list holds a domain that it, or its built-in
    package (`DomainList.builtin`, an in-memory set), lists, unless one of its entries marked as an exception names
    the domain or a parent of it."""
    return facts.domain_lists_holding((row[1], bool(row[2])) for row in rows if row[0] == KIND_LIST)


def account_read(rows: Iterable[tuple]) -> AccountFact | None:
    """The account owning the domain, from its fact rows: the most specific domain wins (x@pl.hutastal.example is
    Huta Stal's through hutastal.example unless pl.hutastal.example belongs to an account of its own)."""
    return facts.account_most_specific(
        facts.AccountDomainRow(domain=row[3], account_id=row[1], account_name=row[4], manager_id=row[2]) for row in rows if row[0] == KIND_ACCOUNT
    )


def domain_lists_for(*, domain: str) -> frozenset[int]:
    """Ids of the domain lists holding the e-mail domain (or a parent of it). One indexed query."""
    rows = domain_fact_rows(domain=domain)
    return domain_lists_read(rows) if rows is not None else frozenset()


def account_for_domain(*, domain: str) -> AccountFact | None:
    """The account owning the e-mail domain; the most specific domain wins. One indexed query."""
    rows = domain_fact_rows(domain=domain)
    return account_read(rows) if rows is not None else None


def territory_for(
    *,
    region_key: str = "",
    city_key: str = "",
    postal_code_num: int | None = None,
    vocabulary: Vocabulary | None = None,
    region: str = "",
) -> TerritoryFact | None:
    """The territory a lead is in; the most specific match wins: the narrowest postal range, then city, then region.

    Keys are `core.text.fold`ed, as on `Lead.region_key` / `city_key`. One query for all kinds of match. The
    region is read through the region vocabulary (reps.vocabularies; `vocabulary` if given, else the cached one):
    a lead from "woj. slaskie" is in the territory whose region is "Śląskie", or "Śląsk", or any spelling of it.
    `region` (the region as typed, optional) is only for the explanation: region “woj. slaskie” (Śląskie).
    """

    vocabulary = vocabulary or (vocabulary_active() if region_key else None)
    found = _TERRITORY_ROWS.rows(
        postal_code_num=postal_code_num, city_key=city_key or "", region_keys=list(vocabulary.region_keys(region_key)) if region_key and vocabulary else []
    )

    def postal() -> list[facts.PostalRow]:
        return [facts.PostalRow(start=row[2], end=row[3], territory=_territory_of(row)) for row in found if row[0] == "postal"]

    def city() -> list[facts.PlaceRow]:
        return [facts.PlaceRow(id=row[1], name=row[4], key=row[5], territory=_territory_of(row)) for row in found if row[0] == "city"]

    def regions() -> list[facts.PlaceRow]:
        return [facts.PlaceRow(id=row[1], name=row[4], key=row[5], territory=_territory_of(row)) for row in found if row[0] == "region"]

    return facts.territory_pick(
        postal=postal,
        city=city,
        region=regions,
        region_key=region_key,
        region_typed=region,
        region_read=lambda: vocabulary.read(REGION, region_key) if vocabulary is not None else None,
    )


_TERRITORY_ROW = ("row_kind", "row_id", "row_start", "row_end", "row_name", "row_key", "row_territory_id", "row_territory_name", "row_rep_id", "row_pool_id")


def _territory_query(*, postal_code_num: int | None, city_key: str, region_keys: Sequence[str]) -> QuerySet | None:
    """Every postal range, city and region row a lead could be placed by, with its territory: ONE query (a union of
    the kinds asked for), rows shaped as `_TERRITORY_ROW`; None when nothing is asked. `core.facts.territory_pick`
    then chooses among them. Compiled once per shape (`_TERRITORY_ROWS`)."""

    def shaped(qs: QuerySet, kind: str, **columns: object) -> QuerySet:
        blank = {"row_start": None, "row_end": None, "row_name": "", "row_key": ""}
        values = {**blank, **columns}
        return (
            qs.order_by()
            .annotate(
                row_kind=Value(kind, output_field=models.CharField()),
                row_id=F("id"),
                row_start=_constant_or(values["row_start"], models.IntegerField()),
                row_end=_constant_or(values["row_end"], models.IntegerField()),
                row_name=_constant_or(values["row_name"], models.CharField()),
                row_key=_constant_or(values["row_key"], models.CharField()),
                row_territory_id=F("territory_id"),
                row_territory_name=F("territory__name"),
                row_rep_id=F("territory__owner_rep_id"),
                row_pool_id=F("territory__owner_pool_id"),
            )
            .values_list(*_TERRITORY_ROW)
        )

    parts = []
    if postal_code_num is not None:
        if connection.vendor == "postgresql":  # on the span's GiST index (postal_holds_sql)
            table = connection.ops.quote_name(PostalRange._meta.db_table)
            holds = postal_holds_sql(start=f'{table}."start"', end=f'{table}."end"', code="%s")
            ranges = PostalRange.objects.filter(RawSQL(holds, [postal_code_num], output_field=models.BooleanField()))
        else:
            ranges = PostalRange.objects.filter(start__lte=postal_code_num, end__gte=postal_code_num)
        parts.append(shaped(ranges, "postal", row_start=F("start"), row_end=F("end")))
    if city_key:
        parts.append(shaped(TerritoryCity.objects.filter(key=city_key), "city", row_name=F("name"), row_key=F("key")))
    region_keys = list(region_keys)
    if region_keys:
        parts.append(shaped(TerritoryRegion.objects.filter(key__in=region_keys), "region", row_name=F("name"), row_key=F("key")))
    if not parts:
        return None
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


_TERRITORY_ROWS = CompiledQuery(_territory_query)


def postal_holds_sql(*, start: str, end: str, code: str) -> str:
    """SQL for "the range start..end (inclusive) holds the postal code `code`" (three SQL expressions). On
    PostgreSQL it is the span's containment, which the GiST index `reps_postalrange_span` answers (reps migration
    0009) however many ranges there are; elsewhere the plain comparison, on the B-tree over (start, end)."""
    if connection.vendor == "postgresql":
        return f"int4range({start}, {end}, '[]') @> ({code})::int"
    return f"({start} <= {code} AND {end} >= {code})"


def _constant_or(value: object, field: models.Field) -> object:
    return value if hasattr(value, "resolve_expression") else Value(value, output_field=field)


def _territory_of(row: tuple) -> facts.TerritoryRow:
    return facts.TerritoryRow(id=row[6], name=row[7], owner_rep_id=row[8], owner_pool_id=row[9])


def postal_range_conflicts(*, territory: Territory, ranges: Sequence[tuple[int, int]], limit_per_range: int = 3) -> dict[int, list[PostalRange]]:
    """Which stored postal ranges of other owners' territories each of `ranges` overlaps, as {index in `ranges`: [...]}.

    `ranges` are the codes `territory` is to have, under its owner as set now (it may be unsaved); its own stored
    ranges are left out, since they are being replaced. The rule is `reps.postal_ranges.range_conflicts`; the
    query only fetches the candidates (one query, with the clashing territories and their owners).
    """
    if not ranges:
        return {}
    stored = PostalRange.objects.filter(reduce(or_, (Q(start__lte=end, end__gte=start) for start, end in ranges)))
    if territory.pk is not None:
        stored = stored.exclude(territory_id=territory.pk)
    stored_list = list(stored.select_related("territory", "territory__owner_rep", "territory__owner_pool").order_by("start", "end", "id"))
    owned = [OwnedRange(start, end, territory.owner_key, i) for i, (start, end) in enumerate(ranges)]
    owned += [OwnedRange(r.start, r.end, r.territory.owner_key, r) for r in stored_list]
    clashes: defaultdict[int, list[PostalRange]] = defaultdict(list)
    for a, b in range_conflicts(owned, limit_per_range=len(owned)):
        mine, other = (a, b) if isinstance(a.ref, int) else (b, a)
        if isinstance(mine.ref, int) and isinstance(other.ref, PostalRange) and len(clashes[mine.ref]) < limit_per_range:
            clashes[mine.ref].append(other.ref)
    return {i: sorted(found, key=lambda r: (r.start, r.end)) for i, found in clashes.items() if found}


__all__ = [
    "account_for_domain",
    "domain_lists_for",
    "on_duty_rep",
    "postal_range_conflicts",
    "rep_is_available",
    "reps_unavailable",
    "team_leads",
    "territory_for",
]
