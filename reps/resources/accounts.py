"""The accounts CSV: name,domains,manager — manager is a rep's e-mail; a domain belongs to one account only.

A row replaces the account's domains; accounts the file leaves out keep theirs (and a domain of theirs listed for
another account is a problem of the row).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from reps.csv_files import domain_is_valid, domain_normalise, list_cell_join, list_cell_split
from reps.models import Account, AccountDomain, Rep
from reps.resources.base import BATCH, PlannedResource, PlannedRow, chunks, column, first_lines, length_check


class AccountResource(PlannedResource[Account]):
    """name,domains,manager — manager is a rep's e-mail; a domain belongs to one account only."""

    columns = ("name", "domains", "manager")
    required_columns = columns
    kind_label = "accounts"

    name = column("name")
    domains = column("domains")
    manager = column("manager")

    class Meta(PlannedResource.Meta):
        model = Account
        fields = ("name", "domains", "manager")
        import_id_fields = ("name",)
        name = "accounts"

    def get_queryset(self) -> QuerySet[Account]:
        return Account.objects.order_by("name")

    def load_current(self) -> None:
        self.reps_by_email: dict[str, Rep] = {r.email.lower(): r for r in Rep.objects.only("id", "email")}
        self.reps_by_id: dict[int, Rep] = {r.id: r for r in self.reps_by_email.values()}
        self.accounts: dict[str, Account] = {a.name: a for a in Account.objects.only("id", "name", "manager_id")}
        self.account_names: dict[int, str] = {a.id: a.name for a in self.accounts.values()}
        self.domains_of: defaultdict[int, list[str]] = defaultdict(list)
        for account_id, domain in AccountDomain.objects.values_list("account_id", "domain"):
            self.domains_of[account_id].append(domain)

    def current_cells(self, account: Account) -> dict[str, str]:
        return {
            "name": account.name,
            "domains": list_cell_join(sorted(self.domains_of.get(account.id, []))),
            "manager": self.reps_by_id[account.manager_id].email if account.manager_id in self.reps_by_id else "",
        }

    def existing_instance(self, row: dict[str, Any]) -> Account | None:
        return self.accounts.get((row.get("name") or "").strip())

    def plan_row(self, plan: PlannedRow, raw: dict[str, str]) -> None:
        name = raw.get("name", "")
        plan.key = name
        if not name:
            plan.error("name", _("An account needs a name."))
        length_check(plan, "name", name, 200)
        manager_cell = raw.get("manager", "")
        manager = self.reps_by_email.get(manager_cell.lower()) if manager_cell else None
        if not manager_cell:
            plan.error("manager", _("An account needs a manager: a rep's e-mail."))
        elif manager is None:
            plan.error("manager", _("No rep has the e-mail “%(email)s”.") % {"email": manager_cell})
        domains: list[str] = []
        for text in list_cell_split(raw.get("domains", "")):
            domain = domain_normalise(text)
            if not domain_is_valid(domain):
                plan.error("domains", _("“%(value)s” is not a domain such as firma.pl.") % {"value": text})
            elif domain not in domains:
                domains.append(domain)
        domains.sort()
        plan.values = {"manager": manager, "domains": domains}
        plan.cells = {"name": name, "domains": list_cell_join(domains), "manager": manager.email if manager else manager_cell}
        current = self.accounts.get(name)
        plan.changed = current is None or self.current_cells(current) != plan.cells

    def plan_file(self, plans: Sequence[PlannedRow]) -> None:
        first_line = first_lines(plans, column="name", message=_("The account “%(name)s” is already on line %(line)d."))
        # A domain leads to one account: the file's accounts get exactly their listed domains, the others keep theirs.
        holder: dict[str, tuple[str, int | None]] = {}
        for account in self.accounts.values():
            if account.name not in first_line:
                for domain in self.domains_of.get(account.id, []):
                    holder[domain] = (account.name, None)
        for plan in plans:
            if plan.errors.get("name"):
                continue
            for domain in plan.values["domains"]:
                if domain in holder:
                    name, line = holder[domain]
                    if line:
                        message = _("The domain %(domain)s is already listed for “%(account)s” on line %(line)d.")
                    else:
                        message = _("The domain %(domain)s already belongs to the account “%(account)s”.")
                    plan.error("domains", message % {"domain": domain, "account": name, "line": line or 0})
                else:
                    holder[domain] = (plan.key, plan.line)

    def apply(self, account: Account, plan: PlannedRow) -> None:
        account.name = plan.key
        account.manager = plan.values["manager"]

    def write(self, created: Sequence[tuple[Account, PlannedRow]], updated: Sequence[tuple[Account, PlannedRow]]) -> None:
        Account.objects.bulk_create([a for a, _plan in created], batch_size=BATCH)
        Account.objects.bulk_update([a for a, _plan in updated], ["manager"], batch_size=BATCH)
        # Delete first: a domain may move from one account of the file to another.
        for ids in chunks([a.id for a, _plan in updated]):
            AccountDomain.objects.filter(account_id__in=ids).delete()
        AccountDomain.objects.bulk_create(
            [AccountDomain(account=a, domain=d) for a, plan in [*created, *updated] for d in plan.values["domains"]], batch_size=BATCH
        )
