"""Rows an intake (or an SLA sweep's chunk) writes, held in memory and inserted in bulk at the end: one INSERT per table instead of one per row.

Taking in a lead writes a handful of history lines, outbox messages, a task or a note. Inserted one by one, each is a
round trip (and the savepoints that contained a broken action two more); held here, they go to the database as one
`bulk_create` per table when the batch closes, still inside the lead's transaction: they commit or roll back with it.

- `rows_batched()` opens a batch for the block (intake: `flows.services.leads.lead_create`; the SLA sweep, per chunk
  of leads: `sla.services.leads_steps_fire` and `flows.services.sweep`); `batch_current()` is the open one or None.
  Writers that know about batching (`routing.services.actions.lead_history_add`,
  `notifications.services.message_enqueue`, the SLA step claims) add to it when one is open and write at once
  otherwise, so every other caller (the manager's hand, the admin) is unchanged.
- `depends_on`: rows whose primary keys a row needs before it is inserted (a history line lists the ids of the
  messages it queued); `on_insert` callbacks fill them in, and `after_insert` ones run once everything is stored
  (the outbox hands the new ids to the cluster).
- `claim(key)`: an in-memory "already queued?" for keys unique to this batch (an outbox key names a lead stored in
  this transaction, `fresh_lead_ids`, or an event stored in it, `fresh_event_ids`, so no row with it can exist in the
  database yet: no query to ask).
- `mark()` / `rollback_to(mark)`: what a failed action had added is forgotten, like a savepoint, without one.

Both backends return the new primary keys from `bulk_create` (PostgreSQL, SQLite ≥ 3.35).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import DatabaseError, models, transaction


@dataclass
class _Row:
    obj: models.Model
    depends_on: tuple[models.Model, ...] = ()
    on_insert: Callable[[], None] | None = None


@dataclass
class RowBatch:
    rows: list[_Row] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    after_insert: list[Callable[[], None]] = field(default_factory=list)
    fresh_lead_ids: set[int] = field(default_factory=set)  # leads stored in this transaction (intake's own)
    fresh_event_ids: set[int] = field(default_factory=set)  # events stored in this transaction (the sweep's steps)
    inserted: list[models.Model] = field(default_factory=list)  # what `flush` stored, in order

    def add(self, obj: models.Model, *, depends_on: tuple | list = (), on_insert: Callable[[], None] | None = None) -> models.Model:
        """Hold `obj` (unsaved) for the bulk insert; `on_insert` runs just before its table is inserted, once every
        row of `depends_on` has its primary key."""
        self.rows.append(_Row(obj=obj, depends_on=tuple(depends_on), on_insert=on_insert))
        return obj

    def claim(self, key: str) -> bool:
        """True the first time `key` is claimed in this batch, False after."""
        if key in self.keys:
            return False
        self.keys.add(key)
        return True

    def mark(self) -> tuple[int, int, frozenset[str]]:
        return len(self.rows), len(self.after_insert), frozenset(self.keys)

    def rollback_to(self, mark: tuple[int, int, frozenset[str]]) -> None:
        rows, hooks, keys = mark
        del self.rows[rows:]
        del self.after_insert[hooks:]
        self.keys = set(keys)

    def flush(self) -> None:
        """Insert every held row, one `bulk_create` per table, tables whose rows others depend on first."""
        pending = list(self.rows)
        self.rows = []
        while pending:
            held = {id(row.obj) for row in pending}
            # A table is ready when none of its rows still waits for a row of the batch not yet inserted.
            blocked = {type(row.obj) for row in pending if any(id(dep) in held for dep in row.depends_on)}
            ready_models = [m for m in dict.fromkeys(type(row.obj) for row in pending) if m not in blocked] or [type(pending[0].obj)]
            model = ready_models[0]
            now_rows = [row for row in pending if type(row.obj) is model]
            pending = [row for row in pending if type(row.obj) is not model]
            for row in now_rows:
                if row.on_insert is not None:
                    row.on_insert()
            model._default_manager.bulk_create([row.obj for row in now_rows])
            self.inserted += [row.obj for row in now_rows]
        hooks, self.after_insert = self.after_insert, []
        for hook in hooks:
            hook()


def batch_contain(batch: RowBatch, run: Callable[[], None]) -> Exception | None:
    """Run `run` so that, if it raises, what it added to `batch` is forgotten and the caller's transaction goes on:
    the error is returned (None when it ran). No savepoint: at intake the batch holds everything such a part writes.
    An `atomic(savepoint=False)` the error passed through marked the transaction for rollback; nothing reached the
    database, so the mark is cleared. A database error is not contained: the transaction itself is broken then
    (PostgreSQL refuses every further statement), so it goes up and the whole intake fails cleanly (503)."""
    mark = batch.mark()
    try:
        run()
    except DatabaseError:
        raise
    except Exception as error:
        batch.rollback_to(mark)
        transaction.set_rollback(False)
        return error
    return None


_current: ContextVar[RowBatch | None] = ContextVar("leadrouter_row_batch", default=None)


def batch_current() -> RowBatch | None:
    return _current.get()


@contextmanager
def rows_batched() -> Iterator[RowBatch]:
    """Hold the block's rows and insert them in bulk when it ends (not when it raises: the transaction is failing
    anyway). Nested: the outer batch is used."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    batch = RowBatch()
    token = _current.set(batch)
    try:
        yield batch
    finally:
        _current.reset(token)
    batch.flush()
