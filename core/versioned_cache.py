"""A value compiled from configuration once per process and kept while its version holds: the rule set, the score
rules, the vocabularies. Pure: the caller reads the version (one query, routing.config_version) and says how to
compile; the cache only decides whether the copy it has is still good. A copy older than `max_age` seconds is
recompiled anyway (an edit made outside the admin, whose version columns did not move)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class VersionedCache(Generic[T]):
    def __init__(self, compile: Callable[[tuple], T], *, max_age: float) -> None:
        self._compile = compile
        self._max_age = max_age
        self._lock = threading.Lock()
        self._entry: tuple[tuple, float, T] | None = None

    def get(self, version: tuple) -> T:
        """The value compiled from `version`: the kept copy when it is of that version and fresh, else a new one."""
        entry = self._entry
        if entry is not None and entry[0] == version and time.monotonic() - entry[1] < self._max_age:
            return entry[2]
        value = self._compile(version)
        with self._lock:
            self._entry = (version, time.monotonic(), value)
        return value

    def clear(self) -> None:
        """Forget the copy: the next `get` compiles."""
        with self._lock:
            self._entry = None
