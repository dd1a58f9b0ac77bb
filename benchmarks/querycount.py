"""Count what really goes to the database server: every statement, BEGIN, COMMIT, ROLLBACK and SAVEPOINT.

Django's `CaptureQueriesContext` keeps at most 9 000 queries (`BaseDatabaseWrapper.queries_log` is a bounded
deque) and only sees what passes through its debug cursor; a check built on it cannot fail past that cap.
`QueryCounter` has no cap and counts through two hooks on one connection:

- `connection.execute_wrapper`: every statement the ORM or raw SQL executes, SAVEPOINT / RELEASE / ROLLBACK TO
  included (Django sends them through a cursor). On SQLite, Django's BEGIN for `atomic` is a cursor statement
  too, so it is counted here.
- the connection's `_commit` / `_rollback`: COMMIT and ROLLBACK are calls on the DB-API connection, not cursor
  statements, so they are wrapped on the connection object for as long as the counter runs.

PostgreSQL with psycopg 3: `atomic` only switches autocommit off; psycopg then sends BEGIN itself, in a round trip
of its own, just before the first statement of the transaction. The counter counts that BEGIN when a statement
runs with autocommit off while the server connection is idle (`pgconn.transaction_status == IDLE`), exactly
when psycopg sends one. A statement run in autocommit mode is its own transaction: a write there (INSERT,
UPDATE, DELETE) is also counted as a commit, because the server commits it.

`commits` is therefore "transactions that wrote", which is what "one commit per lead" means.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

from django.db import connections

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_KIND = re.compile(r"^[\s(]*(\w+)")  # a union is sent as ((SELECT ...) UNION ALL (SELECT ...))


@dataclass
class QueryCounter:
    """`with QueryCounter() as q: ...` then `q.total`, `q.commits`, `q.kinds`, `q.statements`."""

    using: str = "default"
    keep_sql: bool = True
    total: int = 0
    commits: int = 0
    rollbacks: int = 0
    kinds: Counter = field(default_factory=Counter)
    statements: list[str] = field(default_factory=list)
    _stack: ExitStack | None = None

    # -------------------------------------------------------------------------------------------- counting

    def _count(self, kind: str, sql: str) -> None:
        self.total += 1
        self.kinds[kind] += 1
        if self.keep_sql:
            self.statements.append(sql)

    def _wrapper(self, execute, sql, params, many, context):
        connection = context["connection"]
        if connection.vendor == "postgresql" and not connection.get_autocommit():
            pgconn = getattr(connection.connection, "pgconn", None)
            if pgconn is not None and pgconn.transaction_status == 0:  # psycopg.pq.TransactionStatus.IDLE
                self._count("BEGIN", "BEGIN (sent by psycopg)")
        text = sql if isinstance(sql, str) else str(sql)
        match = _KIND.match(text)
        kind = match.group(1).upper() if match else "?"
        self._count(kind, text)
        if connection.get_autocommit() and _WRITE.match(text):
            self.commits += 1  # autocommit: the server commits this statement on its own
        return execute(sql, params, many, context)

    # -------------------------------------------------------------------------------------------- hooks

    def __enter__(self) -> QueryCounter:
        connection = connections[self.using]
        connection.ensure_connection()
        self._stack = stack = ExitStack()
        stack.enter_context(connection.execute_wrapper(self._wrapper))
        original_commit, original_rollback = connection._commit, connection._rollback

        def _commit():
            if connection.connection is not None and self._in_transaction(connection):
                self._count("COMMIT", "COMMIT")
                self.commits += 1
            return original_commit()

        def _rollback():
            if connection.connection is not None and self._in_transaction(connection):
                self._count("ROLLBACK", "ROLLBACK")
                self.rollbacks += 1
            return original_rollback()

        connection._commit, connection._rollback = _commit, _rollback

        def restore():
            del connection._commit, connection._rollback  # back to the class's methods

        stack.callback(restore)
        return self

    @staticmethod
    def _in_transaction(connection) -> bool:
        """Whether COMMIT / ROLLBACK would reach the server (psycopg sends nothing for an idle connection)."""
        if connection.vendor == "postgresql":
            pgconn = getattr(connection.connection, "pgconn", None)
            return pgconn is None or pgconn.transaction_status != 0
        if connection.vendor == "sqlite":
            return connection.connection.in_transaction
        return True

    def __exit__(self, *exc) -> None:
        assert self._stack is not None
        self._stack.close()

    # -------------------------------------------------------------------------------------------- reading

    @property
    def savepoints(self) -> int:
        return self.kinds["SAVEPOINT"] + self.kinds["RELEASE"]

    def report(self) -> str:
        lines = [f"{self.total} statements, {self.commits} commit(s): {dict(self.kinds)}"]
        lines += [f"  {i + 1:3d}. {sql[:200]}" for i, sql in enumerate(self.statements)]
        return "\n".join(lines)
