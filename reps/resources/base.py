"""The planning base of the CSV resources: all-or-nothing imports, every problem against its spreadsheet line.

How an import runs (`PlannedResource`):
1. `before_import` checks the header, reads what it needs from the database in a handful of queries and
   *plans* the whole file: every row parsed, every cross-row rule checked (duplicates, postal-range overlaps,
   a domain owned twice), every problem recorded against its row. A row with more cells than the header (a
   `;` or `,` inside an unquoted cell: reps/csv_files.py reads the encodings and separators) is a problem too.
2. The library walks the rows; `import_instance` applies the planned values to the instance or raises the
   row's `ValidationError` (so the admin and the command both list every bad row), `skip_row` skips blank
   and unchanged rows.
3. `after_import` writes everything with bulk queries, and only when no row has a problem. `import_data`
   always runs in a transaction rolled back on any error: a file is imported whole or not at all.

Row numbers in the result are rewritten to spreadsheet line numbers (header = line 1); `import_result_lines`
turns a result into "Line N, column: message" lines. A kind (territories.py, reps.py, accounts.py, domains.py)
says how to load, plan, write and show its rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from copy import copy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection
from django.db.models import Model
from django.utils.translation import gettext as _
from import_export import resources
from import_export.fields import Field
from import_export.resources import Diff
from import_export.results import Result

from core.text import fold
from reps.csv_files import list_cell_split

BATCH = 1000  # rows per INSERT / per `IN (...)` list: well under SQLite's and PostgreSQL's parameter limits

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def rows_insert(model: type[Model], fields: Sequence[str], rows: Sequence[tuple]) -> None:
    """INSERT plain rows of `model` (values in the order of `fields`: numbers and text as stored) in a few
    statements: for the child rows of a file (a territory's regions, cities, postal ranges), which need no model
    instance, no id back and no signal. (`bulk_create` builds and prepares an instance per row: for the 150 000
    child rows of a 30 000-territory file that was most of the import's time.)

    PostgreSQL gets the rows as one JSON parameter per statement (an array of rows, parsed by the server: much
    cheaper for the client to send than one array parameter per column); SQLite many rows per statement, within its
    999 parameters."""
    if not rows:
        return
    quote = connection.ops.quote_name
    model_fields = [model._meta.get_field(name) for name in fields]
    columns = [quote(f.column) for f in model_fields]
    insert = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)})"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # varchar, not varchar(100): nothing is cut short here (planning checked the lengths)
            values = ", ".join(f"(row->>{i})::{f.db_type(connection).split('(')[0]}" for i, f in enumerate(model_fields))
            for batch in chunks(rows, BATCH * 50):
                cursor.execute(f"{insert} SELECT {values} FROM json_array_elements(%s::json) AS row", [json.dumps(batch)])
            return
        row_sql = f"({', '.join(['%s'] * len(fields))})"
        limit = connection.features.max_query_params or BATCH * len(fields)
        for batch in chunks(rows, max(1, limit // len(fields))):
            cursor.execute(f"{insert} VALUES {', '.join([row_sql] * len(batch))}", [value for row in batch for value in row])


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

    def __init__(self, resource: PlannedResource[Any], instance: Model, new: bool) -> None:
        self.left = [resource.export_field(f, instance) for f in resource.get_import_fields()]
        self.right: list[str] = []
        self.new = new

    def compare_with(self, resource: PlannedResource[Any], instance: Model) -> None:
        self.right = [resource.export_field(f, instance) for f in resource.get_import_fields()]


class PlannedResource(resources.ModelResource, Generic[M]):
    """Base for the CSV KINDs; subclasses say how to load, plan, write and show their rows."""

    columns: tuple[str, ...] = ()
    required_columns: tuple[str, ...] = ()
    kind_label = ""

    class Meta:
        use_bulk = True  # no savepoint per row; we write in bulk ourselves in after_import
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = False  # validation is done by the plan, without a query per row

    def __init__(self, *, diff: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not diff:
            # The command shows no preview: skip the per-row copy and diff (a third of a large import's time).
            self._meta = copy(self._meta)
            self._meta.skip_diff = True
        self.planned: dict[int, PlannedRow] = {}
        self.has_row_errors = False
        self.to_write: list[tuple[M, PlannedRow, bool]] = []

    # --- import_export plumbing -------------------------------------------------------------------------

    def get_diff_class(self) -> type[Diff]:
        return _CellDiff

    def import_data(
        self,
        dataset: tablib.Dataset,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        **kwargs: Any,
    ) -> Result:
        # All-or-nothing whoever calls us (the admin's confirm step does not ask for it).
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(
            dataset, dry_run=dry_run, raise_errors=raise_errors, use_transactions=True, collect_failed_rows=collect_failed_rows, **kwargs
        )

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        self._headers_check(dataset.headers or [])
        self.load_current()
        self.planned = {}
        overlong: dict[int, int] = getattr(dataset, "overlong", {})
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
                    current_cells = self.current_cells(current) if current is not None else {}
                    raw = {**{c: current_cells.get(c, "") for c in missing}, **raw}
                self.plan_row(plan, raw)
            self.planned[index + 1] = plan
            plans.append(plan)
        self.plan_file([p for p in plans if not p.blank])
        self.has_row_errors = any(p.errors for p in plans)
        self.to_write = []

    def _headers_check(self, headers: list[str]) -> None:
        missing = [c for c in self.required_columns if c not in headers]
        unknown = [h for h in headers if h not in self.columns]
        seen: set[str] = set()
        twice: list[str] = []
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

    def get_instance(self, instance_loader: Any, row: dict[str, Any]) -> M | None:
        return self.existing_instance(row)

    def import_instance(self, instance: M, row: dict[str, Any], **kwargs: Any) -> None:
        plan = self.planned[kwargs["row_number"]]
        instance._csv_plan = plan
        if plan.errors:
            raise ValidationError({column: messages for column, messages in plan.errors.items()})
        if not plan.blank:
            self.apply(instance, plan)

    def skip_row(self, instance: M, original: M | None, row: dict[str, Any], import_validation_errors: dict[str, Any] | None = None) -> bool:
        if import_validation_errors:
            return False
        plan: PlannedRow | None = getattr(instance, "_csv_plan", None)
        return plan is None or plan.blank or not plan.changed

    def save_instance(self, instance: M, is_create: bool, row: dict[str, Any], **kwargs: Any) -> None:
        if not self.has_row_errors:
            self.to_write.append((instance, instance._csv_plan, is_create))

    def after_import(self, dataset: tablib.Dataset, result: Result, **kwargs: Any) -> None:
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

    def export_field(self, field: Field, instance: M, **kwargs: Any) -> str:
        return self.row_cells(instance).get(field.column_name, "")

    def row_cells(self, instance: M) -> dict[str, str]:
        plan: PlannedRow | None = getattr(instance, "_csv_plan", None)
        if plan is not None and not plan.blank and not plan.errors:
            return plan.cells
        if instance.pk is None:
            return {}
        return self.current_cells(instance)

    def before_export(self, queryset: Any = None, **kwargs: Any) -> None:
        self.load_current()

    # --- what subclasses write ----------------------------------------------------------------------------

    def load_current(self) -> None:
        """Read what planning and export need, in a few queries."""
        raise NotImplementedError

    def existing_instance(self, row: dict[str, Any]) -> M | None:
        raise NotImplementedError

    def plan_row(self, plan: PlannedRow, raw: dict[str, str]) -> None:
        raise NotImplementedError

    def plan_file(self, plans: Sequence[PlannedRow]) -> None:
        """Rules across rows: duplicates, overlaps."""

    def apply(self, instance: M, plan: PlannedRow) -> None:
        raise NotImplementedError

    def write(self, created: Sequence[tuple[M, PlannedRow]], updated: Sequence[tuple[M, PlannedRow]]) -> None:
        raise NotImplementedError

    def current_cells(self, instance: M) -> dict[str, str]:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------- shared by the kinds


def column(name: str) -> Field:
    """A resource column read and written through the plan's cells, not a model attribute."""
    return Field(column_name=name, attribute=None)


def length_check(plan: PlannedRow, column: str, value: str, limit: int) -> None:
    if len(value) > limit:
        plan.error(column, _("At most %(limit)d characters (this has %(length)d).") % {"limit": limit, "length": len(value)})


def first_lines(plans: Sequence[PlannedRow], *, column: str, message: str) -> dict[Any, int]:
    """{key: the line it first appears on}; a later row with the same key gets `message` % {name, line}."""
    first_line: dict[Any, int] = {}
    for plan in plans:
        if plan.key and plan.key in first_line:
            plan.error(column, message % {"name": plan.key, "line": first_line[plan.key]})
        elif plan.key:
            first_line[plan.key] = plan.line
    return first_line


# A file names the same regions (and often cities) on many rows: each is folded once.
_folded = lru_cache(maxsize=65_536)(fold)


def names_plan(plan: PlannedRow, column: str, cell: str) -> list[tuple[str, str]]:
    """A `;` list of names (regions, cities) as (name, fold(name)): trimmed, each once by the routing's compare."""
    named: list[tuple[str, str]] = []
    keys: set[str] = set()
    for name in list_cell_split(cell):
        length_check(plan, column, name, 100)
        key = _folded(name)
        if key not in keys:
            keys.add(key)
            named.append((name, key))
    return named


def import_result_lines(result: Result) -> list[str]:
    """Every problem of an import as "Line N, column: message" lines, for the command and the admin's messages."""
    lines: list[str] = []
    for error in result.base_errors:
        messages = getattr(error.error, "messages", None) or [str(error.error)]
        lines.extend(str(m) for m in messages)
    for invalid in result.invalid_rows:
        for column_name, column_messages in invalid.error_dict.items():
            for message in column_messages:
                if column_name == NON_FIELD_ERRORS:
                    lines.append(_("Line %(line)d: %(message)s") % {"line": invalid.number, "message": message})
                else:
                    lines.append(_("Line %(line)d, %(column)s: %(message)s") % {"line": invalid.number, "column": column_name, "message": message})
    for error_row in result.error_rows:
        for row_error in error_row.errors:
            lines.append(_("Line %(line)d: %(message)s") % {"line": error_row.number, "message": row_error.error})
    return lines
