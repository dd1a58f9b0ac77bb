"""A query's SQL compiled once per shape, then run with each call's values.

The ORM builds and compiles a queryset anew on every call. For the lead's fact queries of intake (unions of three
to five annotated selects, `routing.ruleset.lead_facts`, `reps.selectors.territory_for`) that building was about a
quarter of a lead's CPU, while PostgreSQL answers them in a fraction of a millisecond. `CompiledQuery` builds the
queryset once per *shape* with marker values in place of the caller's, compiles it, finds every marker among the
compiled SQL's parameters, and from then on runs that SQL with the caller's values in the markers' places.

The shape of a call is what can change the SQL rather than only its parameters: which arguments are empty or None
(a builder leaves a part out for them), the length of every list (one placeholder per item), and the database.
Only non-empty strings and non-zero integers, alone or in lists, become markers; everything else is part of the
shape and reaches the builder as it is.

Never different, at worst slower: a shape is cached only when every marker is found as a parameter exactly as it
was given (a lookup that rewrites its value, like `contains` → `%value%`, or one that drops or merges list items,
is not); otherwise every call of that shape is built by the ORM, as without this module. The ORM's conversions of
column values (a CASE read as an integer) are applied to the rows as the ORM applies them. The queries run through the connection's cursor, so
`connection.execute_wrapper` (benchmarks.querycount) sees them like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

_MARK = "\u2063"  # INVISIBLE SEPARATOR: in no value a lead or the configuration carries
# Markers for integers: near the top of a 32-bit integer column, so no lookup finds them out of range (Django drops
# such a lookup as "matches nothing", and a union drops that part), and far above any postal code or count.
_INT_BASE = 2_147_480_000


MAX_SHAPES = 256  # per query: intake's fact queries use a handful (list lengths of a domain's parents, region spellings)
_MISSING = object()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per parameter: (argument, item, the parameter's type) or (None, the constant, None). The type is the one the
    # compiler gave (on PostgreSQL an integer lookup's value is psycopg's Int4 or Int8), so a value gets it too.
    slots: tuple[tuple[str | None, Any, type | None], ...]
    converters: tuple  # (column, ([converter, ...], expression)), as SQLCompiler.apply_converters takes them


class CompiledQuery:
    """`CompiledQuery(build)` where `build(**values)` returns a values_list queryset; `.rows(**values)` its rows as
    tuples, the same rows `list(build(**values))` gives. `build` may return None (no query: no rows)."""

    def __init__(self, build: Callable[..., QuerySet | None]):
        self._build = build
        self._compiled: dict[Hashable, _Compiled | None] = {}  # None: this shape is not cacheable (or has no query)
        self.compilations = 0  # how many shapes were compiled (tests check that a shape compiles once)

    def rows(self, **values: Any) -> list[tuple]:
        vendor = connections["default"].vendor
        key = (vendor, *sorted((name, _shape(value)) for name, value in values.items()))
        compiled = self._compiled.get(key, _MISSING)
        if compiled is _MISSING:
            if len(self._compiled) >= MAX_SHAPES:  # a caller with ever new shapes gets the ORM, not a growing cache
                compiled = None
            else:
                compiled = self._compiled[key] = self._compile(values)
        if compiled is None:
            queryset = self._build(**values)
            return [] if queryset is None else [tuple(row) for row in queryset]
        params = [item if name is None else _typed(_item(values[name], item), kind) for name, item, kind in compiled.slots]
        connection = connections["default"]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if not compiled.converters:
            return [tuple(row) for row in rows]
        converted = []
        for row in map(list, rows):
            for column, (functions, expression) in compiled.converters:
                for function in functions:
                    row[column] = function(row[column], expression, connection)
            converted.append(tuple(row))
        return converted

    def _compile(self, values: dict[str, Any]) -> _Compiled | None:
        markers: dict[tuple[type, object], tuple[str, int]] = {}  # (str or int, marker): (argument, item)
        marked = {name: _marked(name, value, markers) for name, value in values.items()}
        queryset = self._build(**marked)
        if queryset is None or queryset.db != "default":
            return None
        compiler = queryset.query.get_compiler(using=queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return None
        # The columns the ORM converts from their database values (a CASE read as an integer), applied the same way.
        converters = tuple(compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]]).items())
        slots: list[tuple[str | None, Any, type | None]] = []
        found: set[tuple[str, int]] = set()
        for param in params:
            if not isinstance(param, str | int | float | type(None)):
                return None  # an array, a date, ...: not a shape this module knows
            slot = markers.get((str if isinstance(param, str) else int, param)) if isinstance(param, str | int) else None
            if slot is not None:
                slots.append((*slot, type(param) if type(param) not in (str, int) else None))
                found.add(slot)
            elif (isinstance(param, str) and _MARK in param) or (isinstance(param, int) and _INT_BASE <= param < _INT_BASE + 1_000):
                return None  # a marker rewritten by its lookup
            else:
                slots.append((None, param, None))
        if found != set(markers.values()):
            return None  # a marker dropped (or merged) on the way to the SQL
        self.compilations += 1
        return _Compiled(sql=sql, slots=tuple(slots), converters=converters)


def _markable(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, str) and value != "") or (isinstance(value, int) and value != 0)


def _shape(value: object) -> Hashable:
    if isinstance(value, list | tuple):
        return ("list", tuple(_shape(item) for item in value))
    if _markable(value):
        return type(value).__name__
    if isinstance(value, str | int | float | type(None)):
        return ("as is", type(value).__name__, value)
    raise TypeError(f"CompiledQuery takes strings, integers, None and lists of them, not {type(value).__name__}")


def _marked(name: str, value: object, markers: dict) -> object:
    if isinstance(value, list | tuple):
        return type(value)(_marker(name, i, item, markers) for i, item in enumerate(value))
    return _marker(name, -1, value, markers)


def _marker(name: str, item: int, value: object, markers: dict) -> object:
    if not _markable(value):
        return value
    n = len(markers)
    marker: object = f"{_MARK}{n}{_MARK}" if isinstance(value, str) else _INT_BASE + n
    markers[(type(marker), marker)] = (name, item)
    return marker


def _typed(value: object, kind: type | None) -> object:
    return value if kind is None or value is None else kind(value)


def _item(value: object, item: int) -> object:
    return value if item == -1 else value[item]  # type: ignore[index]
