"""What-if replay, step 1 (continued): the facts of all the replayed leads, read in bulk.

One query per kind of fact for every lead at once, whatever the number of leads and however many distinct
domains, places and people they have: domain-list entries (and the built-in lists, when a domain is in a
package), account domains, earlier leads of the same people, postal ranges, territory cities, territory regions.
Which of a lead's rows make its fact is `core.facts`, the same functions the single-lead lookups use
(`reps.selectors`, through `routing.ruleset.lead_facts`), so the replay sees what intake would have seen: an
account on a parent domain, the narrowest postal range, the region in any spelling.

The values of a query go in as ONE parameter (`_values`: an array on PostgreSQL, a JSON array on SQLite), so a
statement stays short and under any limit on parameters with 10 000 leads.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from django.db import NotSupportedError, connection
from django.db.models.expressions import RawSQL

from core import engine, facts
from core.text import email_key
from reps.domain_packages import builtins_holding
from reps.models import AccountDomain, DomainList, DomainListEntry, PostalRange, Territory, TerritoryCity, TerritoryRegion
from reps.selectors import domain_candidates, postal_holds_sql
from reps.vocabularies import REGION, Vocabulary, fields_read, vocabulary_active
from routing.models import Lead
from routing.ruleset import _FACT_FIELDS, REPEAT_LOOKBACK, _lookup_key


def _values_sql(values: Sequence[object], *, kind: str) -> tuple[str, list]:
    """A one-column derived table (column `value`) of `values`, passed as one parameter. `kind`: "text" or "bigint"."""
    if connection.vendor == "postgresql":
        return f"(SELECT unnest(%s::{kind}[]) AS value)", [list(values)]
    if connection.vendor == "sqlite":
        return "(SELECT value FROM json_each(%s))", [json.dumps(list(values))]
    raise NotSupportedError(f"bulk facts need PostgreSQL or SQLite, not {connection.vendor}")


def _values(values: Iterable[str]) -> RawSQL:
    """For `field__in=_values(...)`: `IN (SELECT value FROM <values>)` with the values as one parameter."""
    sql, params = _values_sql(sorted(set(values)), kind="text")
    return RawSQL(f"SELECT value FROM {sql} AS v", params)


def _territory(territory_id: int, name: str, owner_rep_id: int | None, owner_pool_id: int | None) -> facts.TerritoryRow:
    return facts.TerritoryRow(id=territory_id, name=name, owner_rep_id=owner_rep_id, owner_pool_id=owner_pool_id)


_TERRITORY_COLUMNS = ("territory_id", "territory__name", "territory__owner_rep_id", "territory__owner_pool_id")


class FactsBulk:
    """The facts of `leads` (stored leads), read up front in a fixed number of queries; `base` and `repeat` then
    read no database."""

    def __init__(self, leads: Sequence[Lead], *, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or vocabulary_active()  # region and industry read as lead_facts reads them
        self._domains: dict[str, tuple[frozenset[int], engine.AccountFact | None]] = {}
        self._places: dict[tuple[str, str, int | None, str], engine.TerritoryFact | None] = {}
        self._domains_read({_lookup_key(lead.email_domain) for lead in leads} - {""})
        self._places_read(leads)
        self._earlier_read(leads)

    # -------------------------------------------------------------------------------------------- the reads

    def _domains_read(self, domains: set[str]) -> None:
        """Domain-list entries, built-in lists and account domains of every domain and its parents: three queries."""
        self._candidates = {domain: domain_candidates(domain) for domain in domains}
        wanted = {c for candidates in self._candidates.values() for c in candidates}
        self._entries: defaultdict[str, list[tuple[int, bool]]] = defaultdict(list)
        self._accounts: defaultdict[str, list[facts.AccountDomainRow]] = defaultdict(list)
        self._builtins = {domain: builtins_holding(candidates) for domain, candidates in self._candidates.items()}
        self._builtin_lists: defaultdict[str, list[int]] = defaultdict(list)
        if not wanted:
            return
        entries = DomainListEntry.objects.filter(domain__in=_values(wanted)).order_by()
        for domain, list_id, is_exception in entries.values_list("domain", "domain_list_id", "is_exception"):
            self._entries[domain].append((list_id, is_exception))
        accounts = AccountDomain.objects.filter(domain__in=_values(wanted)).order_by()
        for row in accounts.values_list("domain", "account_id", "account__name", "account__manager_id"):
            self._accounts[row[0]].append(facts.AccountDomainRow(*row))
        builtins = set().union(*self._builtins.values())
        if builtins:
            for builtin, list_id in DomainList.objects.filter(builtin__in=sorted(builtins)).order_by().values_list("builtin", "id"):
                self._builtin_lists[builtin].append(list_id)

    def _places_read(self, leads: Sequence[Lead]) -> None:
        """Postal ranges holding any of the leads' codes, territory cities and regions (any spelling): three queries."""
        codes = sorted({lead.postal_code_num for lead in leads if lead.postal_code_num is not None})
        cities = {_lookup_key(lead.city_key) for lead in leads} - {""}
        region_keys = {_lookup_key(lead.region_key) for lead in leads} - {""}
        self._region_keys = {key: self.vocabulary.region_keys(key) for key in region_keys}
        self._postal: defaultdict[int, list[facts.PostalRow]] = defaultdict(list)
        self._cities: defaultdict[str, list[facts.PlaceRow]] = defaultdict(list)
        self._regions: defaultdict[str, list[facts.PlaceRow]] = defaultdict(list)
        if codes:
            for code, start, end, *territory in self._postal_rows(codes):
                self._postal[code].append(facts.PostalRow(start=start, end=end, territory=_territory(*territory)))
        if cities:
            for row_id, name, key, *territory in TerritoryCity.objects.filter(key__in=_values(cities)).values_list("id", "name", "key", *_TERRITORY_COLUMNS):
                self._cities[key].append(facts.PlaceRow(id=row_id, name=name, key=key, territory=_territory(*territory)))
        spellings = {key for keys in self._region_keys.values() for key in keys}
        if spellings:
            regions = TerritoryRegion.objects.filter(key__in=_values(spellings)).values_list("id", "name", "key", *_TERRITORY_COLUMNS)
            for row_id, name, key, *territory in regions:
                self._regions[key].append(facts.PlaceRow(id=row_id, name=name, key=key, territory=_territory(*territory)))

    @staticmethod
    def _postal_rows(codes: list[int]) -> list[tuple]:
        """(code, start, end, territory id, name, owner rep id, owner pool id) for every range holding a code."""
        q = connection.ops.quote_name
        pr, territory = PostalRange._meta, Territory._meta
        start, end, territory_id = (q(pr.get_field(name).column) for name in ("start", "end", "territory"))
        rep, pool = (q(territory.get_field(name).column) for name in ("owner_rep", "owner_pool"))
        table, params = _values_sql(codes, kind="bigint")
        sql = (
            f"SELECT c.value, r.{start}, r.{end}, t.{q('id')}, t.{q('name')}, t.{rep}, t.{pool} "
            f"FROM {table} AS c JOIN {q(pr.db_table)} AS r ON {postal_holds_sql(start=f'r.{start}', end=f'r.{end}', code='c.value')} "
            f"JOIN {q(territory.db_table)} AS t ON t.{q('id')} = r.{territory_id}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def _earlier_read(self, leads: Sequence[Lead]) -> None:
        """Every stored lead before the last replayed one with the e-mail of a replayed lead, newest first: one query."""
        emails = {self._email(lead) for lead in leads} - {""}
        top = max((lead.pk for lead in leads), default=0)
        self._earlier: defaultdict[str, list[tuple[int, int | None]]] = defaultdict(list)  # e-mail -> [(id, stored owner)]
        if emails:
            rows = Lead.objects.filter(email_key__in=_values(emails), pk__lt=top).order_by("-id").values_list("id", "email_key", "owner_id")
            for lead_id, key, owner_id in rows:
                self._earlier[key].append((lead_id, owner_id))

    @staticmethod
    def _email(lead: Lead) -> str:
        """The key routing.selectors.lead_repeat matches by (none when lead_facts would not look: see lead_facts)."""
        return (lead.email_key or email_key(lead.email)) if _lookup_key(lead.email) else ""

    # -------------------------------------------------------------------------------------------- one lead's share

    def _domain_facts(self, domain: str) -> tuple[frozenset[int], engine.AccountFact | None]:
        if domain not in self._domains:
            candidates = self._candidates.get(domain, ())
            rows = [entry for c in candidates for entry in self._entries.get(c, ())]
            rows += [(list_id, False) for builtin in sorted(self._builtins.get(domain, ())) for list_id in self._builtin_lists.get(builtin, ())]
            account = facts.account_most_specific(row for c in candidates for row in self._accounts.get(c, ()))
            self._domains[domain] = (facts.domain_lists_holding(rows), account)
        return self._domains[domain]

    def _territory_fact(self, lead: Lead) -> engine.TerritoryFact | None:
        region_key, city_key, code = _lookup_key(lead.region_key), _lookup_key(lead.city_key), lead.postal_code_num
        place = (region_key, city_key, code, lead.region or "")
        if place not in self._places:

            def rows(table: dict[str, list[facts.PlaceRow]], keys: Iterable[str]) -> Callable[[], list[facts.PlaceRow]]:
                return lambda: [row for key in keys for row in table.get(key, ())]

            self._places[place] = facts.territory_pick(
                postal=lambda: self._postal.get(code, ()) if code is not None else (),
                city=rows(self._cities, [city_key] if city_key else []),
                region=rows(self._regions, self._region_keys.get(region_key, ())),
                region_key=region_key,
                region_typed=lead.region or "",
                region_read=lambda: self.vocabulary.read(REGION, region_key) if region_key else None,
            )
        return self._places[place]

    def base(self, lead: Lead) -> engine.LeadFacts:
        """The lead's facts without the repeat fact (which depends on the run: see `repeat`); as lead_facts."""
        domain = _lookup_key(lead.email_domain)
        lists, account = self._domain_facts(domain)
        return engine.LeadFacts(
            fields=fields_read({name: getattr(lead, name, None) for name in _FACT_FIELDS}, vocabulary=self.vocabulary),
            extra=lead.extra if isinstance(lead.extra, dict) else {},
            email_domain=domain,
            domain_list_ids=lists,
            account=account,
            territory=self._territory_fact(lead),
        )

    def repeat(self, lead: Lead, owner_of: Callable[[int, int | None], int | None] = lambda _id, owner: owner) -> engine.RepeatFact | None:
        """As routing.selectors.lead_repeat: leads before this one (by id) with the same e-mail, newest first, at most
        REPEAT_LOOKBACK. `owner_of(lead id, stored owner id)` gives an earlier lead's owner in the run (default:
        the stored one, as intake sees it)."""
        rows = [(i, owner_of(i, o)) for i, o in self._earlier.get(self._email(lead), ()) if i < lead.pk][:REPEAT_LOOKBACK]
        return facts.repeat_from(rows)
