"""Benchmarks (`make bench`, not `make test`): the 30 000-row territory import must take seconds, not minutes.

Prints the times; the bounded query count is what keeps it fast and is checked in test_csv_import.py.
"""

import time
from io import StringIO

import pytest
from django.core.management import call_command

from core.text import format_postal_code
from reps.models import PostalRange, Territory, TerritoryCity, TerritoryRegion

ROWS = 30_000
pytestmark = pytest.mark.bench


def territories_file(tmp_path, *, owner_of=lambda i: "Demo" if i % 2 else "ola@techpol.example"):
    lines = ["name;owner;regions;cities;postal_codes"]
    for i in range(ROWS):
        # Three codes per territory: a range and a single code, none overlapping another owner's.
        start = i * 3
        lines.append(
            f'Terytorium {i};{owner_of(i)};Województwo {i % 16};"Miasto {i};Wieś {i}";'
            f'"{format_postal_code(start)}-{format_postal_code(start + 1)};{format_postal_code(start + 2)}"'
        )
    path = tmp_path / "territories.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1250"))
    return path


def timed(*args) -> float:
    started = time.perf_counter()
    call_command(*args, stdout=StringIO(), stderr=StringIO())
    return time.perf_counter() - started


def test_bench_30000_territories_import_reimport_and_export(demo, tmp_path):
    Territory.objects.all().delete()
    path = territories_file(tmp_path)

    dry = timed("import_csv", "territories", str(path), "--dry-run")
    first = timed("import_csv", "territories", str(path))
    assert Territory.objects.count() == ROWS
    assert PostalRange.objects.count() == 2 * ROWS
    assert TerritoryCity.objects.count() == 2 * ROWS and TerritoryRegion.objects.count() == ROWS

    again = timed("import_csv", "territories", str(path))  # all rows unchanged
    out = tmp_path / "export.csv"
    exported = timed("export_csv", "territories", str(out))
    round_trip = timed("import_csv", "territories", str(out))

    print(
        f"\n{ROWS} territories: dry run {dry:.1f}s, import {first:.1f}s, unchanged re-import {again:.1f}s, "
        f"export {exported:.1f}s, export re-import {round_trip:.1f}s"
    )


def test_bench_30000_territories_with_one_bad_row_fail_fast_enough(demo, tmp_path):
    Territory.objects.all().delete()
    path = territories_file(tmp_path, owner_of=lambda i: "nobody@techpol.example" if i == 29_999 else "Demo")
    started = time.perf_counter()
    with pytest.raises(Exception, match="1 row"):
        call_command("import_csv", "territories", str(path), stdout=StringIO(), stderr=StringIO())
    print(f"\n{ROWS} territories with one bad row: rejected in {time.perf_counter() - started:.1f}s")
    assert Territory.objects.count() == 0
