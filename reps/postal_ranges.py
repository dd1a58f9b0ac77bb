"""Postal-code ranges: parsing, formatting and THE overlap rule, in one place.

A range is a pair of numbers (40-000 -> 40000), inclusive on both ends; a single code is a range of one. A postal
code must lead to one owner, so two ranges *conflict* when they share at least one code and their owners differ:

- touching ranges do not overlap (40-000-40-999 and 41-000-41-999), ranges sharing an end code do;
- a single code inside another owner's range conflicts, as does a range nested inside it;
- ranges of the same owner may overlap (one rep's territories, the same territory listed twice).

Every check uses `range_conflicts`: the territory admin (through `reps.selectors.postal_range_conflicts`), the
territories CSV import (reps/resources/territories.py) and the routing-document import (flows). The CSV cell
helpers (`postal_ranges_parse`, `postal_ranges_format`: `;` lists) are in reps/csv_files.py.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from core.text import format_postal_code, postal_code_number

_RANGE = re.compile(r"^\s*(\d{2}\s*-?\s*\d{3})\s*(?:[-–—]\s*(\d{2}\s*-?\s*\d{3}))?\s*$")


def postal_range_parse(text: str) -> tuple[int, int]:
    """ "40-000-44-999" -> (40000, 44999); "47-100" -> (47100, 47100). ValueError with a manager's message."""
    m = _RANGE.match(text)
    if not m:
        raise ValueError(_("“%(value)s” is not a postal code or a range of them (write 47-100 or 40-000-44-999).") % {"value": text})
    start = postal_code_number(m.group(1))
    end = postal_code_number(m.group(2)) if m.group(2) else start
    assert start is not None and end is not None  # the pattern admits only five digits
    if end < start:
        raise ValueError(_("The range “%(value)s” ends before it starts.") % {"value": text})
    return start, end


def postal_range_format(start: int, end: int) -> str:
    """(40000, 44999) -> "40-000-44-999"; (47100, 47100) -> "47-100"."""
    if start == end:
        return format_postal_code(start)
    return f"{format_postal_code(start)}-{format_postal_code(end)}"


@dataclass(frozen=True)
class OwnedRange:
    start: int
    end: int
    owner: Hashable  # ("rep", id) / ("pool", id) (see Territory.owner_key), or e-mail / pool name
    ref: object  # who to blame: a line, a territory, a planned row, a stored PostalRange...


def range_conflicts(ranges: Iterable[OwnedRange], *, limit_per_range: int = 3) -> list[tuple[OwnedRange, OwnedRange]]:
    """Pairs of overlapping ranges with different owners, each pair once as (earlier start, later start).

    At most `limit_per_range` pairs end at the same later range. A sweep over ranges sorted by start with a heap
    of the still-open ones: O(n log n) when the owners agree, which is the normal case of a 30 000-row file.
    """
    ordered = sorted(ranges, key=lambda r: (r.start, r.end))
    open_heap: list[tuple[int, int, OwnedRange]] = []
    open_owners: dict[Hashable, int] = {}
    conflicts: list[tuple[OwnedRange, OwnedRange]] = []
    for i, current in enumerate(ordered):
        while open_heap and open_heap[0][0] < current.start:
            _end, _i, closed = heapq.heappop(open_heap)
            open_owners[closed.owner] -= 1
            if not open_owners[closed.owner]:
                del open_owners[closed.owner]
        if any(owner != current.owner for owner in open_owners):
            found = 0
            for _end, _i, other in sorted(open_heap, key=lambda item: item[1]):
                if other.owner != current.owner:
                    conflicts.append((other, current))
                    found += 1
                    if found >= limit_per_range:
                        break
        heapq.heappush(open_heap, (current.end, i, current))
        open_owners[current.owner] = open_owners.get(current.owner, 0) + 1
    return conflicts
