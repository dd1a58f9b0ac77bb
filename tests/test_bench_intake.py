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
from benchmarks.local import redis_answers
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


def _redis_cache(prefix: str) -> dict | None:
    """The deployment's cache (deploy/production.env: Redis), when Redis answers at 127.0.0.1:6379."""
    if not redis_answers():
        return None
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/1", "KEY_PREFIX": prefix}}


def _post_all(api, first: int, count: int) -> None:
    for i in range(first, first + count):
        response = api.post("/api/v1/leads/", data=body(i), content_type="application/json")
        assert response.status_code == 201, response.content


def test_bench_intake_throughput_and_queries_per_lead(api, demo, settings):
    """Three passes over the same mix of bodies: timed (nothing else running in the process), counted, and traced
    for memory; tracemalloc slows every allocation, so it never runs while the clock does."""
    redis = _redis_cache(f"bench-intake-{clock.time_ns()}")
    if redis:
        settings.CACHES = redis  # as deployed: the rate limiter's counter off the database
    cache = "Redis" if redis else "the database cache (no Redis at 127.0.0.1:6379)"
    settings.INTAKE_RATE_LIMIT = "100000/min"  # 1 120 leads in well under a minute; still counted, as deployed
    _post_all(api, 100_000, 20)  # warm the compiled rule set and the connection

    started, cpu = clock.perf_counter(), clock.process_time()
    _post_all(api, 0, LEADS)
    elapsed, cpu = clock.perf_counter() - started, clock.process_time() - cpu

    with QueryCounter(keep_sql=False) as queries:  # no cap (CaptureQueriesContext stops at 9 000)
        _post_all(api, LEADS, LEADS)
    per_lead = queries.total / LEADS

    tracemalloc.start()
    _post_all(api, 2 * LEADS, 100)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(
        f"\nintake in process ({connection.vendor}, cache: {cache}): {LEADS} leads in {elapsed:.2f} s = {LEADS / elapsed:.0f} leads/s, "
        f"{1000 * elapsed / LEADS:.1f} ms/lead ({1000 * cpu / LEADS:.1f} ms CPU), {per_lead:.1f} queries/lead, peak Python memory over 100 leads {peak / 1e6:.1f} MB"
    )
    report.record(
        "intake in process: queries per lead (mixed bodies)",
        per_lead,
        "queries",
        goal="≤ 15",
        met=per_lead <= 15,
        database=connection.vendor,
        cache=cache,
    )
    report.record(
        "intake in process: time per lead (orientation)",
        1000 * elapsed / LEADS,
        "ms",
        goal="—",
        met=True,
        database=connection.vendor,
        cpu_ms=1000 * cpu / LEADS,
    )
    # Bounded work per lead: routing, SLA and actions take a fixed number of queries, whatever the rules; a lead whose
    # postal code misses every range looks its city and region up too, a tag action writes at once (+2 or so).
    assert per_lead < 18
