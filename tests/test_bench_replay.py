"""Benchmarks (`make bench`, not `make test`): the what-if replay of 1 000 leads and the manager's dashboard (issue 11).

Data that hides no growth (tests/growth_world.py): every lead with its own domain, region, city, postal code and
one fact of its own (account on a parent domain, VIP entry, territory by postal range / city / region, earlier
lead); 100 reps in 20 pools. Each figure is read at a tenth of the size first (100 leads, 10 reps), then at full
size: the query count must be the same (asserted: it is the shape that keeps the reads fast); the times are
recorded against the goal of a second (median of three warm runs; not asserted, they depend on the machine).
"""

import statistics
import time as clock
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from benchmarks.querycount import QueryCounter
from benchmarks.report import record
from flows.digest import digest_compose
from flows.metrics import dashboard
from routing.replay import replay_run
from routing.replay.facts import FactsBulk
from routing.replay.load import replay_leads, world_load
from routing.services.rule_tables import draft_start
from tests.growth_world import grow

pytestmark = [pytest.mark.bench, pytest.mark.django_db]

WARSAW = ZoneInfo("Europe/Warsaw")
SINCE = datetime(2026, 10, 1, tzinfo=WARSAW)
UNTIL = datetime(2026, 11, 1, tzinfo=WARSAW)
NOW = datetime(2026, 10, 28, 12, 0, tzinfo=WARSAW)
LEADS, REPS = 1000, 100
RUNS = 3


def measured(read) -> tuple[float, int]:
    """(median seconds of RUNS warm runs, statements of one run)."""
    read()  # warm: compiled vocabularies, templates, the connection
    with QueryCounter(keep_sql=False) as counted:
        read()
    times = []
    for _ in range(RUNS):
        started = clock.perf_counter()
        read()
        times.append(clock.perf_counter() - started)
    return statistics.median(times), counted.total


def test_bench_replay_of_1000_leads_and_the_dashboard(demo):
    manager = get_user_model().objects.get(username="manager")
    draft = draft_start(user=manager, name="Bench draft")
    client = Client()
    client.force_login(manager)

    def page(url, **params):
        def get():
            with time_machine.travel(NOW, tick=False):
                assert client.get(url, params).status_code == 200

        return get

    reads = {
        "what-if replay": lambda: replay_run(table=draft, since=SINCE, until=UNTIL),
        "what-if page": page("/admin/routing/rule/draft/what-if/", days="30"),
        "dashboard (30 days)": lambda: dashboard(now=NOW, days=30),
        "dashboard page": page("/admin/dashboard/", period="30"),
        "wall page": page("/dashboard/wall/"),
        "weekly digest": lambda: digest_compose(week_start=datetime(2026, 10, 19).date(), now=NOW),
    }

    grow(tag="s", first=0, reps=REPS // 10, leads=LEADS // 10, since=SINCE)
    small = {name: measured(read) for name, read in reads.items()}
    grow(tag="b", first=LEADS // 10, reps=REPS - REPS // 10, leads=LEADS - LEADS // 10, since=SINCE)
    assert len(replay_run(table=draft, since=SINCE, until=UNTIL).leads) == LEADS
    big = {name: measured(read) for name, read in reads.items()}

    def replay_reads():
        """What the replay reads before it simulates: the leads, the world and the leads' facts."""
        leads = replay_leads(since=SINCE, until=UNTIL)
        world_load(since=SINCE.date(), until=UNTIL.date())
        FactsBulk(leads)

    reads_seconds, reads_queries = measured(replay_reads)
    print(f"\nwhat-if replay reads (leads, world, facts): {reads_queries} queries {1000 * reads_seconds:.0f} ms; the rest is the engine and resolver in memory")
    detail = {"what-if replay": {"reads_seconds": round(reads_seconds, 4), "reads_queries": reads_queries}}
    for name in reads:
        (small_s, small_q), (big_s, big_q) = small[name], big[name]
        print(
            f"{name}: {LEADS // 10} leads / {REPS // 10} reps {small_q} queries {1000 * small_s:.0f} ms; {LEADS} / {REPS}: {big_q} queries {1000 * big_s:.0f} ms ({connection.vendor})"
        )
        record(
            f"{name}, {LEADS} leads, {REPS} reps: time",
            big_s,
            "s",
            goal="≤ 1 s",
            met=big_s <= 1.0,
            small_seconds=round(small_s, 4),
            database=connection.vendor,
            **detail.get(name, {}),
        )
        record(
            f"{name}: queries ({LEADS // 10} → {LEADS} leads, {REPS // 10} → {REPS} reps)",
            big_q,
            "queries",
            goal="bounded (same at both sizes)",
            met=big_q == small_q,
            small=small_q,
            database=connection.vendor,
        )
    assert {name: q for name, (_s, q) in big.items()} == {name: q for name, (_s, q) in small.items()}
