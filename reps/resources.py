"""django-import-export resources for the CSV KINDs: territories, reps, accounts, domains.

The same classes serve the admin (upload -> preview with diff -> confirm) and `manage.py import_csv` /
`export_csv` (columns: ../shared/spec/api.md).

How an import runs (`PlannedResource`):
1. `before_import` checks the header, reads what it needs from the database in a handful of queries and
   *plans* the whole file: every row parsed, every cross-row rule checked (duplicates, postal-range overlaps,
   a domain owned twice), every problem recorded against its row.
2. The library walks the rows; `import_instance` applies the planned values to the instance or raises the
   row's `ValidationError` (so the admin and the command both list every bad row), `skip_row` skips blank
   and unchanged rows.
3. `after_import` writes everything with bulk queries, and only when no row has a problem. `import_data`
   always runs in a transaction rolled back on any error: a file is imported whole or not at all.

Row numbers in the result are rewritten to spreadsheet line numbers (header = line 1).
"""

from __future__ import annotations

from collections import defaultdict
from copy import copy
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from import_export import resources
from import_export.fields import Field
from import_export.resources import Diff

from core.text import fold
from reps.csv_files import (
    OwnedRange,
    domain_is_valid,
    domain_normalise,
    list_cell_join,
    list_cell_split,
    postal_range_format,
    postal_ranges_format,
    postal_ranges_parse,
    range_conflicts,
)
from reps.models import (
    Account,
    AccountDomain,
    DomainList,
    DomainListEntry,
    Pool,
    PoolMembership,
    PostalRange,
    Rep,
    Territory,
    TerritoryCity,
    TerritoryRegion,
)

BATCH = 1000  # rows per INSERT / per `IN (...)` list: well under SQLite's and PostgreSQL's parameter limits


def _chunks(items: list, size: int = BATCH):
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class PlannedRow:
    """One data row after planning: its cells as they will be stored, its problems, whether it changes anything."""

    line: int
    key: Any = None
    cells: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    blank: bool = False
    changed: bool = True

    def error(self, column: str, message: str) -> None:
        self.errors[column].append(message)


class _CellDiff(Diff):
    """The preview's diff, read through the resource's cells (the library's own reads model attributes)."""

    def __init__(self, resource, instance, new):
        self.left = [resource.export_field(f, instance) for f in resource.get_import_fields()]
        self.right = []
        self.new = new

    def compare_with(self, resource, instance):
        self.right = [resource.export_field(f, instance) for f in resource.get_import_fields()]


class PlannedResource(resources.ModelResource):
    """Base for the CSV KINDs; subclasses say how to load, plan, write and show their rows."""

    columns: tuple[str, ...] = ()
    required_columns: tuple[str, ...] = ()
    kind_label = ""

    class Meta:
        use_bulk = True  # no savepoint per row; we write in bulk ourselves in after_import
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = False  # validation is done by the plan, without a query per row

    def __init__(self, *, diff: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not diff:
            # The command shows no preview: skip the per-row copy and diff (a third of a large import's time).
            self._meta = copy(self._meta)
            self._meta.skip_diff = True
        self.planned: dict[int, PlannedRow] = {}
        self.has_row_errors = False
        self.to_write: list[tuple[Any, PlannedRow, bool]] = []

    # --- import_export plumbing -------------------------------------------------------------------------

    def get_diff_class(self):
        return _CellDiff

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, collect_failed_rows=False, **kwargs):
        # All-or-nothing whoever calls us (the admin's confirm step does not ask for it).
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(
            dataset, dry_run=dry_run, raise_errors=raise_errors, use_transactions=True, collect_failed_rows=collect_failed_rows, **kwargs
        )

    def before_import(self, dataset, **kwargs):
        self._headers_check(dataset.headers or [])
        self.load_current()
        self.planned = {}
        overlong = getattr(dataset, "overlong", {})
        missing = [c for c in self.columns if c not in (dataset.headers or [])]
        plans = []
        for index, cells in enumerate(dataset):
            raw = {h: ("" if v is None else str(v)).strip() for h, v in zip(dataset.headers, cells, strict=False)}
            plan = PlannedRow(line=index + 2)
            if index in overlong:
                plan.error(
                    NON_FIELD_ERRORS,
                    _("This line has %(count)d cells but the header has %(width)d: a cell with a “;” or “,” in it must be in quotes.")
                    % {"count": overlong[index], "width": len(dataset.headers)},
                )
            if not any(raw.values()):
                plan.blank = True
                plan.changed = False
            else:
                if missing:
                    # A column the file leaves out keeps its current value (a new object gets the default).
                    current = self.existing_instance(raw)
                    cells = self.current_cells(current) if current is not None else {}
                    raw = {**{c: cells.get(c, "") for c in missing}, **raw}
                self.plan_row(plan, raw)
            self.planned[index + 1] = plan
            plans.append(plan)
        self.plan_file([p for p in plans if not p.blank])
        self.has_row_errors = any(p.errors for p in plans)
        self.to_write = []

    def _headers_check(self, headers: list[str]) -> None:
        missing = [c for c in self.required_columns if c not in headers]
        unknown = [h for h in headers if h not in self.columns]
        seen, twice = set(), []
        for h in headers:
            if h in seen:
                twice.append(h)
            seen.add(h)
        problems = []
        if missing:
            problems.append(_("The header has no column %(columns)s.") % {"columns": ", ".join(f"“{c}”" for c in missing)})
        if unknown:
            problems.append(_("The header has unknown columns %(columns)s.") % {"columns": ", ".join(f"“{c}”" for c in unknown)})
        if twice:
            problems.append(_("The header repeats the columns %(columns)s.") % {"columns": ", ".join(f"“{c}”" for c in twice)})
        if problems:
            problems.append(_("Line 1 must be: %(columns)s") % {"columns": ",".join(self.columns)})
            raise ValidationError(" ".join(problems), code="header")

    def get_instance(self, instance_loader, row):
        return self.existing_instance(row)

    def import_instance(self, instance, row, **kwargs):
        plan = self.planned[kwargs["row_number"]]
        instance._csv_plan = plan
        if plan.errors:
            raise ValidationError({column: messages for column, messages in plan.errors.items()})
        if not plan.blank:
            self.apply(instance, plan)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors:
            return False
        plan = getattr(instance, "_csv_plan", None)
        return plan is None or plan.blank or not plan.changed

    def save_instance(self, instance, is_create, row, **kwargs):
        if not self.has_row_errors:
            self.to_write.append((instance, instance._csv_plan, is_create))

    def after_import(self, dataset, result, **kwargs):
        # Spreadsheet line numbers everywhere a row number shows (the admin's table, the command's output).
        for invalid in result.invalid_rows:
            invalid.number = self.planned[invalid.number].line if invalid.number in self.planned else invalid.number + 1
        for error_row in result.error_rows:
            error_row.number = error_row.number + 1
        if self.has_row_errors or result.has_errors() or result.has_validation_errors():
            return
        if kwargs.get("dry_run") and not kwargs.get("using_transactions"):
            return
        self.write([(obj, plan) for obj, plan, new in self.to_write if new], [(obj, plan) for obj, plan, new in self.to_write if not new])

    def export_field(self, field, instance, **kwargs):
        return self.row_cells(instance).get(field.column_name, "")

    def row_cells(self, instance) -> dict[str, str]:
        plan = getattr(instance, "_csv_plan", None)
        if plan is not None and not plan.blank and not plan.errors:
            return plan.cells
        if instance.pk is None:
            return {}
        return self.current_cells(instance)

    def before_export(self, queryset=None, **kwargs):
        self.load_current()

    # --- what subclasses write ----------------------------------------------------------------------------

    def load_current(self) -> None:
        """Read what planning and export need, in a few queries."""
        raise NotImplementedError

    def existing_instance(self, row: dict):
        raise NotImplementedError

    def plan_row(self, plan: PlannedRow, raw: dict[str, str]) -> None:
        raise NotImplementedError

    def plan_file(self, plans: list[PlannedRow]) -> None:
        """Rules across rows: duplicates, overlaps."""

    def apply(self, instance, plan: PlannedRow) -> None:
        raise NotImplementedError

    def write(self, created: list, updated: list) -> None:
        raise NotImplementedError

    def current_cells(self, instance) -> dict[str, str]:
        raise NotImplementedError


def _field(column: str) -> Field:
    return Field(column_name=column, attribute=None)


def _length_check(plan: PlannedRow, column: str, value: str, limit: int) -> None:
    if len(value) > limit:
        plan.error(column, _("At most %(limit)d characters (this has %(length)d).") % {"limit": limit, "length": len(value)})


def _names_plan(plan: PlannedRow, column: str, cell: str) -> list[tuple[str, str]]:
    """A `;` list of names (regions, cities) as (name, fold(name)): trimmed, each once by the routing's compare."""
    named, keys = [], set()
    for name in list_cell_split(cell):
        _length_check(plan, column, name, 100)
        key = fold(name)
        if key not in keys:
            keys.add(key)
            named.append((name, key))
    return named


# ==================================================================================================== territories


class TerritoryResource(PlannedResource):
    """name,owner,regions,cities,postal_codes — owner is a rep's e-mail or a pool's name."""

    columns = ("name", "owner", "regions", "cities", "postal_codes")
    required_columns = columns
    kind_label = "territories"

    name = _field("name")
    owner = _field("owner")
    regions = _field("regions")
    cities = _field("cities")
    postal_codes = _field("postal_codes")

    class Meta(PlannedResource.Meta):
        model = Territory
        fields = ("name", "owner", "regions", "cities", "postal_codes")
        import_id_fields = ("name",)
        name = "territories"

    def get_queryset(self):
        return Territory.objects.order_by("name")

    def load_current(self):
        self.reps_by_email = {r.email.lower(): r for r in Rep.objects.only("id", "email", "name")}
        self.reps_by_id = {r.id: r for r in self.reps_by_email.values()}
        self.pools_by_name = {p.name.casefold(): p for p in Pool.objects.only("id", "name")}
        self.pools_by_id = {p.id: p for p in self.pools_by_name.values()}
        self.territories = {t.name: t for t in Territory.objects.only("id", "name", "owner_rep_id", "owner_pool_id")}
        self.regions_of = defaultdict(list)
        for tid, name in TerritoryRegion.objects.order_by("id").values_list("territory_id", "name"):
            self.regions_of[tid].append(name)
        self.cities_of = defaultdict(list)
        for tid, name in TerritoryCity.objects.order_by("id").values_list("territory_id", "name"):
            self.cities_of[tid].append(name)
        self.ranges_of = defaultdict(list)
        for tid, start, end in PostalRange.objects.values_list("territory_id", "start", "end"):
            self.ranges_of[tid].append((start, end))

    def _owner_label(self, rep_id, pool_id) -> str:
        if rep_id:
            return self.reps_by_id[rep_id].email
        if pool_id:
            return self.pools_by_id[pool_id].name
        return ""

    def current_cells(self, territory):
        return {
            "name": territory.name,
            "owner": self._owner_label(territory.owner_rep_id, territory.owner_pool_id),
            "regions": list_cell_join(self.regions_of.get(territory.id, [])),
            "cities": list_cell_join(self.cities_of.get(territory.id, [])),
            "postal_codes": postal_ranges_format(set(self.ranges_of.get(territory.id, []))),
        }

    def existing_instance(self, row):
        return self.territories.get((row.get("name") or "").strip())

    def plan_row(self, plan, raw):
        name = raw.get("name", "")
        plan.key = name
        if not name:
            plan.error("name", _("A territory needs a name."))
        _length_check(plan, "name", name, 100)

        owner_cell = raw.get("owner", "")
        rep = pool = None
        if not owner_cell:
            plan.error("owner", _("A territory needs an owner: a rep's e-mail or a pool's name."))
        else:
            rep = self.reps_by_email.get(owner_cell.lower())
            pool = None if rep else self.pools_by_name.get(owner_cell.casefold())
            if not rep and not pool:
                plan.error("owner", _("“%(owner)s” is neither a rep's e-mail nor a pool's name.") % {"owner": owner_cell})
        regions = _names_plan(plan, "regions", raw.get("regions", ""))
        cities = _names_plan(plan, "cities", raw.get("cities", ""))
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

    def plan_file(self, plans):
        first_line: dict[str, int] = {}
        in_file: dict[str, PlannedRow] = {}
        for plan in plans:
            if not plan.key:
                continue
            if plan.key in first_line:
                plan.error("name", _("The territory “%(name)s” is already on line %(line)d.") % {"name": plan.key, "line": first_line[plan.key]})
            else:
                first_line[plan.key] = plan.line
                in_file[plan.key] = plan

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
            owner = ("rep", territory.owner_rep_id) if territory.owner_rep_id else ("pool", territory.owner_pool_id)
            owned.extend(OwnedRange(s, e, owner, territory) for s, e in self.ranges_of.get(territory.id, []))
        reported = set()
        for a, b in range_conflicts(owned):
            if isinstance(a.ref, PlannedRow) and isinstance(b.ref, PlannedRow):
                bad, other = (a, b) if a.ref.line > b.ref.line else (b, a)
            else:
                bad, other = (a, b) if isinstance(a.ref, PlannedRow) else (b, a)
            plan = bad.ref
            if isinstance(other.ref, PlannedRow):
                where = _("territory “%(name)s” on line %(line)d") % {"name": other.ref.key, "line": other.ref.line}
                owner_label = other.ref.cells["owner"]
            else:
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
    def _owner_key(plan):
        if plan.values.get("rep"):
            return ("rep", plan.values["rep"].id)
        if plan.values.get("pool"):
            return ("pool", plan.values["pool"].id)
        return None

    def apply(self, territory, plan):
        territory.name = plan.key
        territory.owner_rep = plan.values["rep"]
        territory.owner_pool = plan.values["pool"]

    def write(self, created, updated):
        Territory.objects.bulk_create([t for t, _plan in created], batch_size=BATCH)
        Territory.objects.bulk_update([t for t, _plan in updated], ["owner_rep", "owner_pool"], batch_size=BATCH)
        for ids in _chunks([t.id for t, _plan in updated]):
            TerritoryRegion.objects.filter(territory_id__in=ids).delete()
            TerritoryCity.objects.filter(territory_id__in=ids).delete()
            PostalRange.objects.filter(territory_id__in=ids).delete()
        regions, cities, ranges = [], [], []
        for territory, plan in created + updated:
            regions.extend(TerritoryRegion(territory=territory, name=n, key=k) for n, k in plan.values["regions"])
            cities.extend(TerritoryCity(territory=territory, name=n, key=k) for n, k in plan.values["cities"])
            ranges.extend(PostalRange(territory=territory, start=s, end=e) for s, e in plan.values["ranges"])
        TerritoryRegion.objects.bulk_create(regions, batch_size=BATCH)
        TerritoryCity.objects.bulk_create(cities, batch_size=BATCH)
        PostalRange.objects.bulk_create(ranges, batch_size=BATCH)


# ==================================================================================================== reps


def _whole_number(plan: PlannedRow, column: str, cell: str, *, default, maximum: int):
    if cell == "":
        return default
    text = cell.replace(" ", "").replace("\u00a0", "")
    if text.endswith((".0", ",0")):
        text = text[:-2]  # Excel's 5.0
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or number < 0 or number > maximum:
        plan.error(column, _("“%(value)s” is not a whole number from 0 to %(maximum)d.") % {"value": cell, "maximum": maximum})
        return default
    return number


class RepResource(PlannedResource):
    """username,name,email,phone,pools,weight,daily_cap,languages — creates missing users (never staff) and pools.

    Only username, name and email are required columns; a column the file leaves out keeps its current value."""

    columns = ("username", "name", "email", "phone", "pools", "weight", "daily_cap", "languages")
    required_columns = ("username", "name", "email")
    kind_label = "reps"

    username = _field("username")
    name = _field("name")
    email = _field("email")
    phone = _field("phone")
    pools = _field("pools")
    weight = _field("weight")
    daily_cap = _field("daily_cap")
    languages = _field("languages")

    class Meta(PlannedResource.Meta):
        model = Rep
        fields = ("username", "name", "email", "phone", "pools", "weight", "daily_cap", "languages")
        import_id_fields = ("username",)
        name = "reps"

    def get_queryset(self):
        return Rep.objects.select_related("user").order_by("user__username")

    def load_current(self):
        User = get_user_model()
        self.users = {u.username: u for u in User.objects.only("id", "username")}
        self.reps_by_user = {r.user_id: r for r in Rep.objects.all()}
        self.username_of = {u.id: u.username for u in self.users.values()}
        self.pools_by_name = {p.name.casefold(): p for p in Pool.objects.only("id", "name")}
        self.pools_by_id = {p.id: p for p in self.pools_by_name.values()}
        self.new_pools: dict[str, Pool] = {}
        self.pools_of = defaultdict(list)
        self.max_position = defaultdict(lambda: -1)
        for rep_id, pool_id, position in PoolMembership.objects.values_list("rep_id", "pool_id", "position"):
            self.pools_of[rep_id].append(pool_id)
            self.max_position[pool_id] = max(self.max_position[pool_id], position)

    @staticmethod
    def _pools_cell(pools) -> str:
        return list_cell_join(sorted((p.name for p in pools), key=str.casefold))

    def current_cells(self, rep):
        return {
            "username": self.username_of.get(rep.user_id, ""),
            "name": rep.name,
            "email": rep.email,
            "phone": rep.phone,
            "pools": self._pools_cell(self.pools_by_id[p] for p in self.pools_of.get(rep.id, [])),
            "weight": str(rep.weight),
            "daily_cap": "" if rep.daily_cap is None else str(rep.daily_cap),
            "languages": list_cell_join(rep.language_list),
        }

    def existing_instance(self, row):
        user = self.users.get((row.get("username") or "").strip())
        return self.reps_by_user.get(user.id) if user else None

    def plan_row(self, plan, raw):
        username = raw.get("username", "")
        plan.key = username
        if not username:
            plan.error("username", _("A rep needs a username (their login)."))
        else:
            try:
                UnicodeUsernameValidator()(username)
            except ValidationError:
                plan.error("username", _("“%(value)s” is not a valid username: letters, digits and @ . + - _ only.") % {"value": username})
            _length_check(plan, "username", username, 150)
        name = raw.get("name", "")
        if not name:
            plan.error("name", _("A rep needs a name."))
        _length_check(plan, "name", name, 150)
        email = raw.get("email", "")
        if not email:
            plan.error("email", _("A rep needs an e-mail address."))
        else:
            try:
                validate_email(email)
            except ValidationError:
                plan.error("email", _("“%(value)s” is not a valid e-mail address.") % {"value": email})
        phone = raw.get("phone", "")
        _length_check(plan, "phone", phone, 32)

        pools = []
        for pool_name in list_cell_split(raw.get("pools", "")):
            _length_check(plan, "pools", pool_name, 100)
            key = pool_name.casefold()
            pool = self.pools_by_name.get(key) or self.new_pools.setdefault(key, Pool(name=pool_name))
            if pool not in pools:
                pools.append(pool)
        weight = _whole_number(plan, "weight", raw.get("weight", ""), default=1, maximum=32767)
        daily_cap = _whole_number(plan, "daily_cap", raw.get("daily_cap", ""), default=None, maximum=2_147_483_647)
        languages = []
        for code in list_cell_split(raw.get("languages", ""), separators=";, "):
            code = code.lower()
            if len(code) != 2 or not code.isascii() or not code.isalpha():
                plan.error("languages", _("“%(value)s” is not a two-letter language code such as pl, en or de.") % {"value": code})
            elif code not in languages:
                languages.append(code)
        if len(",".join(languages)) > 64:
            plan.error("languages", _("Too many languages."))

        plan.values = {
            "username": username,
            "name": name,
            "email": email,
            "phone": phone,
            "pools": pools,
            "weight": weight,
            "daily_cap": daily_cap,
            "languages": ",".join(languages),
        }
        plan.cells = {
            "username": username,
            "name": name,
            "email": email,
            "phone": phone,
            "pools": self._pools_cell(pools),
            "weight": str(weight),
            "daily_cap": "" if daily_cap is None else str(daily_cap),
            "languages": list_cell_join(languages),
        }
        current = self.existing_instance({"username": username})
        plan.changed = current is None or self.current_cells(current) != plan.cells

    def plan_file(self, plans):
        first_line: dict[str, int] = {}
        for plan in plans:
            if plan.key and plan.key in first_line:
                plan.error("username", _("The username “%(name)s” is already on line %(line)d.") % {"name": plan.key, "line": first_line[plan.key]})
            elif plan.key:
                first_line[plan.key] = plan.line
        # E-mail addresses must stay unique among reps: those in the file and those it does not mention.
        in_file = set(first_line)
        email_owner: dict[str, str] = {}
        for rep in self.reps_by_user.values():
            username = self.username_of.get(rep.user_id, "")
            if username not in in_file:
                email_owner[rep.email.lower()] = username
        for plan in plans:
            email = plan.values.get("email", "").lower()
            if not email or plan.errors.get("email") or plan.errors.get("username"):
                continue
            if email in email_owner and email_owner[email] != plan.key:
                holder = email_owner[email]
                line = first_line.get(holder)
                if line:
                    message = _("“%(email)s” is already the e-mail of %(username)s on line %(line)d.")
                else:
                    message = _("“%(email)s” is already the e-mail of the rep %(username)s.")
                plan.error("email", message % {"email": plan.values["email"], "username": holder, "line": line or 0})
            else:
                email_owner[email] = plan.key

    def apply(self, rep, plan):
        v = plan.values
        rep.name, rep.email, rep.phone = v["name"], v["email"], v["phone"]
        rep.weight, rep.daily_cap, rep.languages = v["weight"], v["daily_cap"], v["languages"]

    def write(self, created, updated):
        User = get_user_model()
        new_users = []
        for rep, plan in created:
            user = self.users.get(plan.key)
            if user is None:
                first, _sep, last = plan.values["name"].partition(" ")
                # Never staff: a rep logs in to /my-leads/, not to the admin. No password until one is set.
                user = User(
                    username=plan.key,
                    email=plan.values["email"],
                    first_name=first[:150],
                    last_name=last[:150],
                    is_staff=False,
                    is_superuser=False,
                    is_active=True,
                    password=make_password(None),
                )
                new_users.append(user)
            rep.user = user
        User.objects.bulk_create(new_users, batch_size=BATCH)
        for rep, _plan in created:
            rep.user = rep.user  # picks up the primary key bulk_create just set
        Rep.objects.bulk_create([r for r, _plan in created], batch_size=BATCH)
        Rep.objects.bulk_update([r for r, _plan in updated], ["name", "email", "phone", "weight", "daily_cap", "languages"], batch_size=BATCH)

        # Pool memberships: exactly the pools listed; a rep joining a pool goes to its end. Pools the file names
        # and the database lacks are created (plain round robin), as the preview and the command's summary say.
        Pool.objects.bulk_create(list(self.new_pools.values()))
        drop, add = [], []
        for rep, plan in created + updated:
            wanted = [p.id for p in plan.values["pools"]]
            current = self.pools_of.get(rep.id, [])
            drop.extend((rep.id, pool_id) for pool_id in current if pool_id not in wanted)
            for pool_id in wanted:
                if pool_id not in current:
                    self.max_position[pool_id] += 1
                    add.append(PoolMembership(pool_id=pool_id, rep=rep, position=self.max_position[pool_id]))
        by_pool = defaultdict(list)
        for rep_id, pool_id in drop:
            by_pool[pool_id].append(rep_id)
        for pool_id, rep_ids in by_pool.items():
            for ids in _chunks(rep_ids):
                PoolMembership.objects.filter(pool_id=pool_id, rep_id__in=ids).delete()
        PoolMembership.objects.bulk_create(add, batch_size=BATCH)


# ==================================================================================================== accounts


class AccountResource(PlannedResource):
    """name,domains,manager — manager is a rep's e-mail; a domain belongs to one account only."""

    columns = ("name", "domains", "manager")
    required_columns = columns
    kind_label = "accounts"

    name = _field("name")
    domains = _field("domains")
    manager = _field("manager")

    class Meta(PlannedResource.Meta):
        model = Account
        fields = ("name", "domains", "manager")
        import_id_fields = ("name",)
        name = "accounts"

    def get_queryset(self):
        return Account.objects.order_by("name")

    def load_current(self):
        self.reps_by_email = {r.email.lower(): r for r in Rep.objects.only("id", "email")}
        self.reps_by_id = {r.id: r for r in self.reps_by_email.values()}
        self.accounts = {a.name: a for a in Account.objects.only("id", "name", "manager_id")}
        self.account_names = {a.id: a.name for a in self.accounts.values()}
        self.domains_of = defaultdict(list)
        for account_id, domain in AccountDomain.objects.values_list("account_id", "domain"):
            self.domains_of[account_id].append(domain)

    def current_cells(self, account):
        return {
            "name": account.name,
            "domains": list_cell_join(sorted(self.domains_of.get(account.id, []))),
            "manager": self.reps_by_id[account.manager_id].email if account.manager_id in self.reps_by_id else "",
        }

    def existing_instance(self, row):
        return self.accounts.get((row.get("name") or "").strip())

    def plan_row(self, plan, raw):
        name = raw.get("name", "")
        plan.key = name
        if not name:
            plan.error("name", _("An account needs a name."))
        _length_check(plan, "name", name, 200)
        manager_cell = raw.get("manager", "")
        manager = self.reps_by_email.get(manager_cell.lower()) if manager_cell else None
        if not manager_cell:
            plan.error("manager", _("An account needs a manager: a rep's e-mail."))
        elif manager is None:
            plan.error("manager", _("No rep has the e-mail “%(email)s”.") % {"email": manager_cell})
        domains = []
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

    def plan_file(self, plans):
        first_line: dict[str, int] = {}
        for plan in plans:
            if plan.key and plan.key in first_line:
                plan.error("name", _("The account “%(name)s” is already on line %(line)d.") % {"name": plan.key, "line": first_line[plan.key]})
            elif plan.key:
                first_line[plan.key] = plan.line
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

    def apply(self, account, plan):
        account.name = plan.key
        account.manager = plan.values["manager"]

    def write(self, created, updated):
        Account.objects.bulk_create([a for a, _plan in created], batch_size=BATCH)
        Account.objects.bulk_update([a for a, _plan in updated], ["manager"], batch_size=BATCH)
        # Delete first: a domain may move from one account of the file to another.
        for ids in _chunks([a.id for a, _plan in updated]):
            AccountDomain.objects.filter(account_id__in=ids).delete()
        AccountDomain.objects.bulk_create(
            [AccountDomain(account=a, domain=d) for a, plan in created + updated for d in plan.values["domains"]], batch_size=BATCH
        )


# ==================================================================================================== domains


class DomainResource(PlannedResource):
    """list,domain — one row per domain on a list. Adds; never removes. An unknown list is created (kind: custom)."""

    columns = ("list", "domain")
    required_columns = columns
    kind_label = "domains"

    list = _field("list")
    domain = _field("domain")

    class Meta(PlannedResource.Meta):
        model = DomainListEntry
        fields = ("list", "domain")
        import_id_fields = ("list", "domain")
        name = "domains"

    def get_queryset(self):
        return DomainListEntry.objects.select_related("domain_list").order_by("domain_list__name", "domain")

    def export(self, queryset=None, **kwargs):
        # The admin exports from the domain lists' page: its queryset holds lists, we write their domains.
        if queryset is not None and queryset.model is DomainList:
            queryset = self.get_queryset().filter(domain_list__in=queryset)
        return super().export(queryset, **kwargs)

    def load_current(self):
        self.lists = {dl.name.casefold(): dl for dl in DomainList.objects.all()}
        self.entries = {(e.domain_list.name.casefold(), e.domain): e for e in DomainListEntry.objects.select_related("domain_list")}
        self.new_lists: dict[str, DomainList] = {}

    def current_cells(self, entry):
        return {"list": entry.domain_list.name, "domain": entry.domain}

    def existing_instance(self, row):
        return self.entries.get(((row.get("list") or "").strip().casefold(), domain_normalise(row.get("domain"))))

    def plan_row(self, plan, raw):
        list_name = raw.get("list", "")
        domain = domain_normalise(raw.get("domain", ""))
        if not list_name:
            plan.error("list", _("Say which list the domain goes on (e.g. VIP or Free mail)."))
        _length_check(plan, "list", list_name, 100)
        if not domain:
            plan.error("domain", _("The domain is empty."))
        elif not domain_is_valid(domain):
            plan.error("domain", _("“%(value)s” is not a domain such as firma.pl.") % {"value": raw.get("domain", "")})
        plan.key = (list_name.casefold(), domain)
        domain_list = self.lists.get(list_name.casefold())
        plan.values = {"list_name": list_name, "list": domain_list, "domain": domain}
        plan.cells = {"list": domain_list.name if domain_list else list_name, "domain": domain}
        plan.changed = plan.key not in self.entries

    def plan_file(self, plans):
        first_line = {}
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

    def apply(self, entry, plan):
        entry.domain_list = plan.values["list"]
        entry.domain = plan.values["domain"]

    def write(self, created, updated):
        DomainList.objects.bulk_create(list(self.new_lists.values()))
        for entry, _plan in created:
            entry.domain_list = entry.domain_list  # picks up the new list's primary key
        DomainListEntry.objects.bulk_create([e for e, _plan in created], batch_size=BATCH)


RESOURCES: dict[str, type[PlannedResource]] = {
    "territories": TerritoryResource,
    "reps": RepResource,
    "accounts": AccountResource,
    "domains": DomainResource,
}


def import_result_lines(result) -> list[str]:
    """Every problem of an import as "Line N, column: message" lines, for the command and the admin's messages."""
    lines = []
    for error in result.base_errors:
        messages = getattr(error.error, "messages", None) or [str(error.error)]
        lines.extend(str(m) for m in messages)
    for invalid in result.invalid_rows:
        for column, messages in invalid.error_dict.items():
            for message in messages:
                if column == NON_FIELD_ERRORS:
                    lines.append(_("Line %(line)d: %(message)s") % {"line": invalid.number, "message": message})
                else:
                    lines.append(_("Line %(line)d, %(column)s: %(message)s") % {"line": invalid.number, "column": column, "message": message})
    for error_row in result.error_rows:
        for error in error_row.errors:
            lines.append(_("Line %(line)d: %(message)s") % {"line": error_row.number, "message": error.error})
    return lines
