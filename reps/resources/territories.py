"""The territories CSV: name,owner,regions,cities,postal_codes — owner is a rep's e-mail or a pool's name.

A row replaces the territory's regions, cities and postal ranges. Postal ranges must not overlap another owner's
(the rule is reps.postal_ranges.range_conflicts), counting both the file's territories and those it leaves out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from reps.csv_files import list_cell_join, postal_ranges_format, postal_ranges_parse
from reps.models import Pool, PostalRange, Rep, Territory, TerritoryCity, TerritoryRegion
from reps.postal_ranges import OwnedRange, postal_range_format, range_conflicts
from reps.resources.base import BATCH, PlannedResource, PlannedRow, chunks, column, first_lines, length_check, names_plan, rows_insert


class TerritoryResource(PlannedResource[Territory]):
    """name,owner,regions,cities,postal_codes — owner is a rep's e-mail or a pool's name."""

    columns = ("name", "owner", "regions", "cities", "postal_codes")
    required_columns = columns
    kind_label = "territories"

    name = column("name")
    owner = column("owner")
    regions = column("regions")
    cities = column("cities")
    postal_codes = column("postal_codes")

    class Meta(PlannedResource.Meta):
        model = Territory
        fields = ("name", "owner", "regions", "cities", "postal_codes")
        import_id_fields = ("name",)
        name = "territories"

    def get_queryset(self) -> QuerySet[Territory]:
        return Territory.objects.order_by("name")

    def load_current(self) -> None:
        self.reps_by_email: dict[str, Rep] = {r.email.lower(): r for r in Rep.objects.only("id", "email", "name")}
        self.reps_by_id: dict[int, Rep] = {r.id: r for r in self.reps_by_email.values()}
        self.pools_by_name: dict[str, Pool] = {p.name.casefold(): p for p in Pool.objects.only("id", "name")}
        self.pools_by_id: dict[int, Pool] = {p.id: p for p in self.pools_by_name.values()}
        self.territories: dict[str, Territory] = {t.name: t for t in Territory.objects.only("id", "name", "owner_rep_id", "owner_pool_id")}
        self.regions_of: defaultdict[int, list[str]] = defaultdict(list)
        for tid, name in TerritoryRegion.objects.order_by("id").values_list("territory_id", "name"):
            self.regions_of[tid].append(name)
        self.cities_of: defaultdict[int, list[str]] = defaultdict(list)
        for tid, name in TerritoryCity.objects.order_by("id").values_list("territory_id", "name"):
            self.cities_of[tid].append(name)
        self.ranges_of: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
        for tid, start, end in PostalRange.objects.values_list("territory_id", "start", "end"):
            self.ranges_of[tid].append((start, end))

    def _owner_label(self, rep_id: int | None, pool_id: int | None) -> str:
        if rep_id:
            return self.reps_by_id[rep_id].email
        if pool_id:
            return self.pools_by_id[pool_id].name
        return ""

    def current_cells(self, territory: Territory) -> dict[str, str]:
        return {
            "name": territory.name,
            "owner": self._owner_label(territory.owner_rep_id, territory.owner_pool_id),
            "regions": list_cell_join(self.regions_of.get(territory.id, [])),
            "cities": list_cell_join(self.cities_of.get(territory.id, [])),
            "postal_codes": postal_ranges_format(set(self.ranges_of.get(territory.id, []))),
        }

    def existing_instance(self, row: dict[str, Any]) -> Territory | None:
        return self.territories.get((row.get("name") or "").strip())

    def plan_row(self, plan: PlannedRow, raw: dict[str, str]) -> None:
        name = raw.get("name", "")
        plan.key = name
        if not name:
            plan.error("name", _("A territory needs a name."))
        length_check(plan, "name", name, 100)

        owner_cell = raw.get("owner", "")
        rep = pool = None
        if not owner_cell:
            plan.error("owner", _("A territory needs an owner: a rep's e-mail or a pool's name."))
        else:
            rep = self.reps_by_email.get(owner_cell.lower())
            pool = None if rep else self.pools_by_name.get(owner_cell.casefold())
            if not rep and not pool:
                plan.error("owner", _("“%(owner)s” is neither a rep's e-mail nor a pool's name.") % {"owner": owner_cell})
        regions = names_plan(plan, "regions", raw.get("regions", ""))
        cities = names_plan(plan, "cities", raw.get("cities", ""))
        ranges, range_errors = postal_ranges_parse(raw.get("postal_codes", ""))
        for message in range_errors:
            plan.error("postal_codes", message)

        plan.values = {"rep": rep, "pool": pool, "regions": regions, "cities": cities, "ranges": ranges}
        plan.cells = {
            "name": name,
            "owner": rep.email if rep else (pool.name if pool else owner_cell),
            "regions": list_cell_join(n for n, _key in regions),
            "cities": list_cell_join(n for n, _key in cities),
            "postal_codes": postal_ranges_format(ranges),
        }
        current = self.territories.get(name)
        plan.changed = current is None or self.current_cells(current) != plan.cells

    def plan_file(self, plans: Sequence[PlannedRow]) -> None:
        in_file = first_lines(plans, column="name", message=_("The territory “%(name)s” is already on line %(line)d."))

        # Postal ranges as they will be after the import: the file's, plus those of territories the file does
        # not mention. Overlaps between different owners would make routing ambiguous.
        owned: list[OwnedRange] = []
        for plan in plans:
            owner = self._owner_key(plan)
            if owner is None or plan.errors.get("name"):
                continue
            owned.extend(OwnedRange(s, e, owner, plan) for s, e in plan.values["ranges"])
        for name, territory in self.territories.items():
            if name in in_file:
                continue
            owned.extend(OwnedRange(s, e, territory.owner_key, territory) for s, e in self.ranges_of.get(territory.id, []))
        reported: set[tuple[int, int, int, int]] = set()
        for a, b in range_conflicts(owned):
            if isinstance(a.ref, PlannedRow) and isinstance(b.ref, PlannedRow):
                bad, other = (a, b) if a.ref.line > b.ref.line else (b, a)
            else:
                bad, other = (a, b) if isinstance(a.ref, PlannedRow) else (b, a)
            assert isinstance(bad.ref, PlannedRow)
            plan = bad.ref
            if isinstance(other.ref, PlannedRow):
                where = _("territory “%(name)s” on line %(line)d") % {"name": other.ref.key, "line": other.ref.line}
                owner_label = other.ref.cells["owner"]
            else:
                assert isinstance(other.ref, Territory)
                where = _("territory “%(name)s”") % {"name": other.ref.name}
                owner_label = self._owner_label(other.ref.owner_rep_id, other.ref.owner_pool_id)
            marker = (plan.line, bad.start, bad.end, id(other.ref))
            if marker in reported:
                continue
            reported.add(marker)
            plan.error(
                "postal_codes",
                _("%(range)s overlaps %(other_range)s of %(where)s, which belongs to %(owner)s.")
                % {
                    "range": postal_range_format(bad.start, bad.end),
                    "other_range": postal_range_format(other.start, other.end),
                    "where": where,
                    "owner": owner_label,
                },
            )

    @staticmethod
    def _owner_key(plan: PlannedRow) -> tuple[str, int] | None:
        """The row's owner as Territory.owner_key spells it."""
        if plan.values.get("rep"):
            return ("rep", plan.values["rep"].id)
        if plan.values.get("pool"):
            return ("pool", plan.values["pool"].id)
        return None

    def apply(self, territory: Territory, plan: PlannedRow) -> None:
        rep, pool = plan.values["rep"], plan.values["pool"]
        territory.name = plan.key
        # By id: the owner's row is not needed on the instance (a relation's setter costs more than the rest of the row).
        territory.owner_rep_id = rep.id if rep else None
        territory.owner_pool_id = pool.id if pool else None

    def write(self, created: Sequence[tuple[Territory, PlannedRow]], updated: Sequence[tuple[Territory, PlannedRow]]) -> None:
        # New territories as plain rows (no instance prepared per row, as bulk_create does), then their ids by name.
        rows_insert(Territory, ("name", "owner_rep", "owner_pool"), [(t.name, t.owner_rep_id, t.owner_pool_id) for t, _plan in created])
        new_ids: dict[str, int] = {}
        for names in chunks([t.name for t, _plan in created]):
            new_ids.update(Territory.objects.filter(name__in=names).values_list("name", "id"))
        for territory, _plan in created:
            territory.id = new_ids[territory.name]
            territory._state.adding, territory._state.db = False, "default"
        Territory.objects.bulk_update([t for t, _plan in updated], ["owner_rep", "owner_pool"], batch_size=BATCH)
        for ids in chunks([t.id for t, _plan in updated]):
            TerritoryRegion.objects.filter(territory_id__in=ids).delete()
            TerritoryCity.objects.filter(territory_id__in=ids).delete()
            PostalRange.objects.filter(territory_id__in=ids).delete()
        regions: list[tuple[int, str, str]] = []
        cities: list[tuple[int, str, str]] = []
        ranges: list[tuple[int, int, int]] = []
        for territory, plan in [*created, *updated]:
            tid = territory.id
            regions.extend((tid, n, k) for n, k in plan.values["regions"])
            cities.extend((tid, n, k) for n, k in plan.values["cities"])
            ranges.extend((tid, s, e) for s, e in plan.values["ranges"])
        rows_insert(TerritoryRegion, ("territory", "name", "key"), regions)
        rows_insert(TerritoryCity, ("territory", "name", "key"), cities)
        rows_insert(PostalRange, ("territory", "start", "end"), ranges)
