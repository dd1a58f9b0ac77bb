"""Benchmarks (`make bench`, not `make test`): intake speed (the SLA sweep's are in test_bench_sweep.py).

They print the numbers; what they assert is the shape that keeps them fast (queries per lead do not grow
with the number of rules or leads), never a wall-clock limit.
"""

import json
import time as clock
import tracemalloc

import pytest
from django.db import connection

from benchmarks import report
from benchmarks.querycount import QueryCounter

pytestmark = pytest.mark.bench

LEADS = 500
SOURCES = ["demo_request", "webinar", "report_download", "newsletter", "contact_form"]


def body(i: int) -> str:
    return json.dumps(
        {
            "email": f"osoba{i}@firma{i % 97}.example",
            "company": f"Firma {i % 97}",
            "source": SOURCES[i % len(SOURCES)],
            "region": ["Śląskie", "Mazowieckie", "Małopolskie"][i % 3],
            "postal_code": f"{40 + i % 10}-{i % 1000:03d}",
            "company_size": (i * 37) % 600,
            "message": "AWARIA" if i % 11 == 0 else "Prośba o ofertę",
            "phone": "+48 600 000 000" if i % 2 else "",
        }
    )


def test_bench_intake_throughput_and_queries_per_lead(api, demo):
    for i in range(20):  # warm the compiled rule set and the connection
        api.post("/api/v1/leads/", data=body(100_000 + i), content_type="application/json")

    tracemalloc.start()
    started = clock.perf_counter()
    with QueryCounter(keep_sql=False) as queries:  # no cap (CaptureQueriesContext stops at 9 000)
        for i in range(LEADS):
            response = api.post("/api/v1/leads/", data=body(i), content_type="application/json")
            assert response.status_code == 201
    elapsed = clock.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    per_lead = queries.total / LEADS
    print(
        f"\nintake: {LEADS} leads in {elapsed:.2f} s = {LEADS / elapsed:.0f} leads/s, {1000 * elapsed / LEADS:.1f} ms/lead, "
        f"{per_lead:.1f} queries/lead, peak Python memory {peak / 1e6:.1f} MB ({connection.vendor})"
    )
    report.record("intake in process: queries per lead (mixed bodies)", per_lead, "queries", goal="≤ 15 (a demo request: tests/test_query_counts.py)", met=per_lead <= 15, database=connection.vendor)
    report.record("intake in process: time per lead (orientation)", 1000 * elapsed / LEADS, "ms", goal="—", met=True, database=connection.vendor)
    # Bounded work per lead: routing, SLA and actions take a fixed number of queries, whatever the rules; a lead whose
    # postal code misses every range looks its city and region up too, a tag action writes at once (+2 or so).
    assert per_lead < 18

