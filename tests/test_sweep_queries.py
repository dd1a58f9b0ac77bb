"""The SLA sweep's queries follow the number of due leads, never the number of open ones (issue 11).

Counted by benchmarks.querycount.QueryCounter (no cap). The sweep reads the due leads in one query (the partial
index on `sla_next_step_at`); each due lead then costs the same bounded number of statements. The benchmark with
100 000 open leads is tests/test_bench_sweep.py (`make bench`).
"""

import pytest

from benchmarks.querycount import QueryCounter
from flows.services.sweep import sla_tick
from routing.models import LeadEvent
from routing.services.intake import intake_source_create
from tests.sweep_backlog import SWEEP_NOW, backlog_add, open_leads_count

# Statements per due lead whose reminder fires (measured): lock and read the lead, its fired steps, claim the step
# (savepoint, insert, release), the reminder event, the lead's next step, and the owner's messages (a savepoint, a
# key check and an insert per channel, the notification event), the outbox task row, BEGIN and COMMIT.
PER_DUE_LEAD_MAX = 19


@pytest.fixture
def source(demo):
    return intake_source_create(name="Backlog")[0]


def sweep_counted() -> tuple[int, QueryCounter]:
    with QueryCounter() as counted:
        fired = sla_tick(now=SWEEP_NOW)
    return fired, counted


def test_the_sweep_takes_the_same_queries_with_200_and_with_2000_open_leads(source):
    backlog_add(source=source, open_count=200, due_count=3)
    sla_tick(now=SWEEP_NOW)  # warm the process's caches
    backlog_add(source=source, open_count=0, due_count=5)
    fired_few, few = sweep_counted()

    backlog_add(source=source, open_count=1_800, due_count=5)
    assert open_leads_count() >= 2_000
    fired_many, many = sweep_counted()

    assert fired_few == fired_many == 5
    assert many.total == few.total, f"200 open:\n{few.report()}\n\n2 000 open:\n{many.report()}"
    assert many.kinds == few.kinds


def test_each_due_lead_costs_a_bounded_number_of_statements(source):
    backlog_add(source=source, open_count=50, due_count=2)
    sla_tick(now=SWEEP_NOW)
    backlog_add(source=source, open_count=0, due_count=2)
    _fired, two = sweep_counted()
    due = backlog_add(source=source, open_count=0, due_count=12)
    fired, twelve = sweep_counted()

    assert fired == 12
    assert LeadEvent.objects.filter(lead_id__in=due, type=LeadEvent.Type.REMINDER).count() == 12, "one reminder per due lead"
    per_lead = (twelve.total - two.total) / 10
    assert per_lead == int(per_lead), "every due lead costs the same"
    assert per_lead <= PER_DUE_LEAD_MAX, twelve.report()
    # No query per open lead, none per due lead outside its own work: a sweep of 12 is 12 leads' work and the one
    # read of the due leads, the policy (four queries, once per sweep) and the configuration versions (once a second).
    assert twelve.total <= 12 * PER_DUE_LEAD_MAX + 6


def test_a_sweep_with_nothing_due_is_one_query(source):
    backlog_add(source=source, open_count=500, due_count=0)
    fired, counted = sweep_counted()
    assert fired == 0
    assert counted.total == 1, counted.report()
