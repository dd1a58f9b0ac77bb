"""How a lead's looked-up facts are chosen from the rows found for it: pure, no ORM.

Two callers find the rows and let these functions decide, so a fact means the same for one lead as for a
thousand: the single-lead lookups (`reps.selectors`: `domain_lists_for`, `account_for_domain`, `territory_for`;
a query per kind for one lead) and the what-if replay's bulk loader (`routing.replay.facts`: a query per kind for
every replayed lead at once, then each lead's share of the rows).

- domain lists: a list holds the domain if an entry (or the list's built-in package) names the domain or a parent of
  it, unless one of its entries marked as an exception does (`domain_lists_holding`);
- account: the most specific account domain among the domain and its parents wins (`account_most_specific`);
- territory: the narrowest postal range, else the city, else the region (its own spelling first); ties by
  territory name (`territory_pick`);
- repeat lead: the earlier leads newest first; the previous owner is the owner of the newest one that had one
  (`repeat_from`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from core.conditions import _shown
from core.engine import AccountFact, RepeatFact, TerritoryFact
from core.messages import concat
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from core.text import format_postal_code

# ---------------------------------------------------------------------------------------------- e-mail domain


def domain_lists_holding(rows: Iterable[tuple[int, bool]]) -> frozenset[int]:
    """Ids of the lists holding a domain, from (list id, is exception) rows: the entries naming the domain or a
    parent of it, and the lists whose built-in package holds one of them (not exceptions)."""
    held, excepted = set(), set()
    for list_id, is_exception in rows:
        (excepted if is_exception else held).add(list_id)
    return frozenset(held - excepted)


@dataclass(frozen=True)
class AccountDomainRow:
    domain: str
    account_id: int
    account_name: str
    manager_id: int


def account_most_specific(rows: Iterable[AccountDomainRow]) -> AccountFact | None:
    """The account of the longest (most specific) of the account domains found for the domain and its parents."""
    best = max(rows, key=lambda r: (len(r.domain), r.domain), default=None)
    if best is None:
        return None
    return AccountFact(id=best.account_id, name=best.account_name, manager_id=best.manager_id, domain=best.domain)


# ---------------------------------------------------------------------------------------------- territory


@dataclass(frozen=True)
class TerritoryRow:
    id: int
    name: str
    owner_rep_id: int | None
    owner_pool_id: int | None

    def fact(self, matched_by: str) -> TerritoryFact:
        return TerritoryFact(id=self.id, name=self.name, owner_rep_id=self.owner_rep_id, owner_pool_id=self.owner_pool_id, matched_by=matched_by)


@dataclass(frozen=True)
class PostalRow:
    start: int
    end: int
    territory: TerritoryRow


@dataclass(frozen=True)
class PlaceRow:
    """A territory's city or region as stored: its row id, name as typed and `fold`ed key."""

    id: int
    name: str
    key: str
    territory: TerritoryRow


def territory_by_postal(rows: Iterable[PostalRow]) -> TerritoryFact | None:
    """The narrowest of the ranges holding the postal code (then by territory name)."""
    best = min(rows, key=lambda r: (r.end - r.start, r.territory.name), default=None)
    if best is None:
        return None
    if best.start == best.end:
        by = _("postal code %(code)s") % {"code": format_postal_code(best.start)}
    else:
        by = _("postal codes %(start)s–%(end)s") % {"start": format_postal_code(best.start), "end": format_postal_code(best.end)}
    return best.territory.fact(by)


def territory_by_city(rows: Iterable[PlaceRow]) -> TerritoryFact | None:
    """The first territory by name among those listing the city."""
    best = min(rows, key=lambda r: (r.territory.name, r.id), default=None)
    return best.territory.fact(_("city") + f" {best.name}") if best is not None else None


def territory_by_region(rows: Iterable[PlaceRow], *, region_key: str, typed: str, read: str | None) -> TerritoryFact | None:
    """Among the territories listing one of the region's spellings, the region as typed first, then by territory
    name. `typed`: the region as the lead typed it (for the explanation); `read`: the vocabulary's term for it."""
    best = min(rows, key=lambda r: (r.key != region_key, r.territory.name, r.id), default=None)
    if best is None:
        return None
    typed = " ".join((typed or region_key).split())
    by = _("region") + f" {best.name}"
    if typed != best.name:
        by = concat(_("region"), " ", _shown(typed), f" ({read or best.name})")
    return best.territory.fact(by)


def territory_pick(
    *,
    postal: Callable[[], Iterable[PostalRow]],
    city: Callable[[], Iterable[PlaceRow]],
    region: Callable[[], Iterable[PlaceRow]],
    region_key: str = "",
    region_typed: str = "",
    region_read: Callable[[], str | None] = lambda: None,
) -> TerritoryFact | None:
    """The territory a lead is in; the most specific match wins: the narrowest postal range, then the city, then
    the region. Each callable gives the rows of one kind and is called only while nothing more specific matched
    (one lead: at most a query per kind; the bulk loader: a look-up in what it read)."""
    return (
        territory_by_postal(postal())
        or territory_by_city(city())
        or territory_by_region(region(), region_key=region_key, typed=region_typed, read=region_read())
    )


# ---------------------------------------------------------------------------------------------- repeat lead


def repeat_from(rows: Sequence[tuple[int, int | None]]) -> RepeatFact | None:
    """The repeat fact from the earlier leads of the same person as (lead id, owner id), newest first, already cut
    to the look-back: the previous owner is the owner of the newest one that had an owner."""
    if not rows:
        return None
    previous = next(((lead_id, owner_id) for lead_id, owner_id in rows if owner_id is not None), (rows[0][0], None))
    return RepeatFact(earlier_lead_ids=tuple(lead_id for lead_id, _owner in rows), previous_lead_id=previous[0], previous_owner_id=previous[1])
