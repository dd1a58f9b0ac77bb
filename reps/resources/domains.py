"""The domains CSV: list,domain — one row per domain on a list. Adds; never removes. An unknown list is created
(kind: custom). The admin exports it from the domain lists' page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tablib
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from reps.csv_files import domain_is_valid, domain_normalise
from reps.models import DomainList, DomainListEntry
from reps.resources.base import BATCH, PlannedResource, PlannedRow, column, length_check


class DomainResource(PlannedResource[DomainListEntry]):
    """list,domain — one row per domain on a list. Adds; never removes. An unknown list is created (kind: custom)."""

    columns = ("list", "domain")
    required_columns = columns
    kind_label = "domains"

    # The column is called "list", so inside this class `list` is the column: the hints below use Sequence.
    list = column("list")
    domain = column("domain")

    class Meta(PlannedResource.Meta):
        model = DomainListEntry
        fields = ("list", "domain")
        import_id_fields = ("list", "domain")
        name = "domains"

    def get_queryset(self) -> QuerySet[DomainListEntry]:
        # The domains on the lists; a manager's exceptions (DomainListEntry.is_exception) travel in the routing document.
        return DomainListEntry.objects.filter(is_exception=False).select_related("domain_list").order_by("domain_list__name", "domain")

    def export(self, queryset: QuerySet[Any] | None = None, **kwargs: Any) -> tablib.Dataset:
        # The admin exports from the domain lists' page: its queryset holds lists, we write their domains.
        if queryset is not None and queryset.model is DomainList:
            queryset = self.get_queryset().filter(domain_list__in=queryset)
        return super().export(queryset, **kwargs)

    def load_current(self) -> None:
        self.lists: dict[str, DomainList] = {dl.name.casefold(): dl for dl in DomainList.objects.all()}
        self.entries: dict[tuple[str, str], DomainListEntry] = {
            (e.domain_list.name.casefold(), e.domain): e for e in DomainListEntry.objects.select_related("domain_list")
        }
        self.new_lists: dict[str, DomainList] = {}

    def current_cells(self, entry: DomainListEntry) -> dict[str, str]:
        return {"list": entry.domain_list.name, "domain": entry.domain}

    def existing_instance(self, row: dict[str, Any]) -> DomainListEntry | None:
        return self.entries.get(((row.get("list") or "").strip().casefold(), domain_normalise(row.get("domain"))))

    def plan_row(self, plan: PlannedRow, raw: dict[str, str]) -> None:
        list_name = raw.get("list", "")
        domain = domain_normalise(raw.get("domain", ""))
        if not list_name:
            plan.error("list", _("Say which list the domain goes on (e.g. VIP or Free mail)."))
        length_check(plan, "list", list_name, 100)
        if not domain:
            plan.error("domain", _("The domain is empty."))
        elif not domain_is_valid(domain):
            plan.error("domain", _("“%(value)s” is not a domain such as firma.pl.") % {"value": raw.get("domain", "")})
        plan.key = (list_name.casefold(), domain)
        domain_list = self.lists.get(list_name.casefold())
        plan.values = {"list_name": list_name, "list": domain_list, "domain": domain}
        plan.cells = {"list": domain_list.name if domain_list else list_name, "domain": domain}
        plan.changed = plan.key not in self.entries

    def plan_file(self, plans: Sequence[PlannedRow]) -> None:
        first_line: dict[tuple[str, str], int] = {}
        for plan in plans:
            if plan.errors:
                continue
            if plan.key in first_line:
                plan.error(
                    "domain",
                    _("The domain %(domain)s is already on line %(line)d for the list “%(list)s”.")
                    % {"domain": plan.values["domain"], "line": first_line[plan.key], "list": plan.values["list_name"]},
                )
            else:
                first_line[plan.key] = plan.line
            if plan.values["list"] is None:
                key = plan.values["list_name"].casefold()
                plan.values["list"] = self.new_lists.setdefault(key, DomainList(name=plan.values["list_name"], kind=DomainList.Kind.CUSTOM))

    def apply(self, entry: DomainListEntry, plan: PlannedRow) -> None:
        entry.domain_list = plan.values["list"]
        entry.domain = plan.values["domain"]

    def write(self, created: Sequence[tuple[DomainListEntry, PlannedRow]], updated: Sequence[tuple[DomainListEntry, PlannedRow]]) -> None:
        DomainList.objects.bulk_create(list(self.new_lists.values()))
        for entry, _plan in created:
            entry.domain_list = entry.domain_list  # picks up the new list's primary key
        DomainListEntry.objects.bulk_create([e for e, _plan in created], batch_size=BATCH)
