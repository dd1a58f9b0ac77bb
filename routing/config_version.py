"""One query per lead for the version of every cached piece of configuration.

Intake reads configuration that changes rarely (the rule set and its actions, SLA policies and calendars,
channels, ...). Each piece is compiled once per process and kept with the version it was compiled from; the
version is a handful of scalar subqueries (row count, highest id, latest `updated_at`) over its tables. Each app
registers its subqueries here (`version_register`, at import of the module that owns the cache: this module sits
in routing and imports nothing above it, so sla and notifications plug in from their own layer), and
`config_versions()` asks for all of them in ONE round trip.

Inside `config_snapshot()` (intake wraps one lead in it) the answer is read once and reused, so a new cache costs
a lead no extra query: a cached config read does not eat the lead's query budget. Outside a snapshot every call
reads afresh (the preview, the admin, tests that edit rules between leads).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

# name -> function(quote_name) -> (list of scalar subquery SQL, params)
_PARTS: dict[str, Callable[[Callable[[str], str]], tuple[list[str], list]]] = {}
_parts_lock = threading.Lock()
_snapshot: contextvars.ContextVar[dict | None] = contextvars.ContextVar("config_snapshot", default=None)


def version_register(name: str, part: Callable[[Callable[[str], str]], tuple[list[str], list]]) -> None:
    """Add (or replace) the subqueries whose values make up the version of the cache `name`."""
    with _parts_lock:
        _PARTS[name] = part


def registered_versions() -> frozenset[str]:
    with _parts_lock:
        return frozenset(_PARTS)


def table_fingerprint(q: Callable[[str], str], table: str, *, updated_at: str | None = None) -> list[str]:
    """COUNT(*), MAX(id) and, when the table has one, MAX(updated_at): the usual three subqueries of a table."""
    parts = [f"(SELECT COUNT(*) FROM {q(table)})", f"(SELECT MAX(id) FROM {q(table)})"]
    if updated_at:
        parts.append(f"(SELECT MAX({q(updated_at)}) FROM {q(table)})")
    return parts


def _read(names: list[str]) -> dict[str, tuple]:
    q = connection.ops.quote_name
    columns: list[str] = []
    params: list = []
    spans: list[tuple[str, int, int]] = []
    for name in names:
        sql, values = _PARTS[name](q)
        spans.append((name, len(columns), len(columns) + len(sql)))
        columns += sql
        params += values
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns), params)
        row = cursor.fetchone()
    values = tuple(str(value) if value is not None else None for value in row)
    return {name: values[start:end] for name, start, end in spans}


def config_versions(*names: str) -> dict[str, tuple]:
    """{name: version tuple} of the named caches (all registered ones without names), one query at most."""
    with _parts_lock:
        wanted = list(names) if names else list(_PARTS)
    snap = _snapshot.get()
    if snap is None:
        return _read(wanted)
    missing = [name for name in wanted if name not in snap]
    if missing:
        # The first ask of the snapshot reads every registered cache at once: later asks cost nothing.
        with _parts_lock:
            everything = list(dict.fromkeys([*missing, *_PARTS]))
        snap.update(_read(everything))
    return {name: snap[name] for name in wanted}


def config_version(name: str) -> tuple:
    return config_versions(name)[name]


@contextmanager
def config_snapshot() -> Iterator[None]:
    """Within the block, configuration versions are read once (the first cache that asks reads them all)."""
    if _snapshot.get() is not None:  # nested: the outer snapshot holds
        yield
        return
    token = _snapshot.set({})
    try:
        yield
    finally:
        _snapshot.reset(token)
