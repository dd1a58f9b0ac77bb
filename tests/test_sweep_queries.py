"""The SLA sweep's queries follow the number of chunks of due leads, never the number of open ones (issue 11).

Counted by benchmarks.querycount.QueryCounter (no cap). The sweep reads the due leads in one query (the partial
index on `sla_next_step_at`) and fires them in chunks of up to `flows.services.sweep.CHUNK_SIZE`, each chunk in one
transaction with a fixed number of statements whatever its size: lock and read the leads, their firings, one INSERT
each for the firings, the step events, the outbox rows and the notification events, the leads' UPDATE, the broker's
task row. The benchmark with 100 000 open leads is tests/test_bench_sweep.py (`make bench`).
"""

import logging

import pytest
from django.db import connection

import flows.services.sweep as sweep
from benchmarks.querycount import QueryCounter
from flows.services.sweep import sla_tick
from notifications.models import OutboxMessage
from routing.models import Lead, LeadEvent
from routing.services.intake import intake_source_create
from sla.models import StepFiring
from tests.conftest import migration_rows_restore
from tests.sweep_backlog import SWEEP_NOW, backlog_add, open_leads_count

# Statements of one chunk of reminders (measured on both backends): the lead lock and read, the firings read, the
# INSERTs of the firings, the reminder events, the outbox rows and the notification events, the leads' UPDATE, the
# broker's task row, and the chunk's SAVEPOINT and RELEASE inside the test's transaction (BEGIN / COMMIT outside it).
PER_CHUNK = 10
# Once per sweep: the due leads' read, the policy with its steps and calendar (four queries), the channels' version.
PER_SWEEP = 6
# A chunk small enough for SQLite's 999 parameters per statement: every table's rows of a chunk in ONE INSERT there
# too (a larger chunk is split by `bulk_create` on SQLite: more statements, still bounded per chunk).
SMALL_CHUNK = 25


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


def test_a_chunk_costs_the_same_statements_with_2_and_with_25_due_leads(source, monkeypatch):
    monkeypatch.setattr(sweep, "CHUNK_SIZE", SMALL_CHUNK)
    backlog_add(source=source, open_count=50, due_count=2)
    sla_tick(now=SWEEP_NOW)
    backlog_add(source=source, open_count=0, due_count=2)
    _fired, two = sweep_counted()
    due = backlog_add(source=source, open_count=0, due_count=SMALL_CHUNK)
    fired, full = sweep_counted()

    assert fired == SMALL_CHUNK
    assert LeadEvent.objects.filter(lead_id__in=due, type=LeadEvent.Type.REMINDER).count() == SMALL_CHUNK, "one reminder per due lead"
    assert StepFiring.objects.filter(lead_id__in=due).count() == SMALL_CHUNK
    assert full.total == two.total, f"2 due:\n{two.report()}\n\n{SMALL_CHUNK} due:\n{full.report()}"
    assert full.kinds == two.kinds
    assert full.total == PER_SWEEP + PER_CHUNK, full.report()


def test_each_further_chunk_costs_the_same_bounded_statements(source, monkeypatch):
    monkeypatch.setattr(sweep, "CHUNK_SIZE", SMALL_CHUNK)
    backlog_add(source=source, open_count=50, due_count=2)
    sla_tick(now=SWEEP_NOW)
    counts = []
    for chunks in (1, 2, 3):
        backlog_add(source=source, open_count=0, due_count=chunks * SMALL_CHUNK)
        fired, counted = sweep_counted()
        assert fired == chunks * SMALL_CHUNK
        counts.append(counted.total)
    assert counts[1] - counts[0] == counts[2] - counts[1] == PER_CHUNK, counts


def test_a_hundred_due_leads_cost_what_ten_do_on_postgresql(source):
    """At the sweep's own chunk size (100): one chunk whether 10 or 100 are due. SQLite splits the outbox INSERT of
    100 rows by its parameter limit (a few statements more per chunk), so the equality is PostgreSQL's."""
    assert sweep.CHUNK_SIZE >= 100
    backlog_add(source=source, open_count=50, due_count=2)
    sla_tick(now=SWEEP_NOW)
    backlog_add(source=source, open_count=0, due_count=10)
    _fired, ten = sweep_counted()
    backlog_add(source=source, open_count=0, due_count=100)
    fired, hundred = sweep_counted()

    assert fired == 100
    if connection.vendor == "postgresql":
        assert hundred.total == ten.total == PER_SWEEP + PER_CHUNK, hundred.report()
    else:
        assert ten.total <= hundred.total <= ten.total + 6, hundred.report()


@pytest.mark.django_db(transaction=True)  # the sweep's transactions commit for real: their COMMITs are counted
def test_one_commit_per_chunk(demo, monkeypatch):
    monkeypatch.setattr(sweep, "CHUNK_SIZE", SMALL_CHUNK)
    source = intake_source_create(name="Backlog")[0]
    try:
        backlog_add(source=source, open_count=20, due_count=2 * SMALL_CHUNK + 3)  # three chunks: 25, 25 and 3
        fired, counted = sweep_counted()
        assert fired == 2 * SMALL_CHUNK + 3
        assert counted.commits == 3, counted.report()
        assert sla_tick(now=SWEEP_NOW) == 0  # the same moment again changes nothing
    finally:
        migration_rows_restore()


def test_a_sweep_with_nothing_due_is_one_query(source):
    backlog_add(source=source, open_count=500, due_count=0)
    fired, counted = sweep_counted()
    assert fired == 0
    assert counted.total == 1, counted.report()


def test_a_poison_lead_stays_due_and_the_rest_of_its_chunk_fires(source, monkeypatch, caplog):
    """A lead whose step breaks fails its chunk; the chunk is done again lead by lead: the others fire (once), the
    broken one keeps its step due, unfired and untold, and both failures are in the log."""
    due = backlog_add(source=source, open_count=10, due_count=6)
    poison = due[2]
    real = sweep.escalation_notify

    def notify(**kwargs):
        if kwargs["lead"].pk == poison:
            raise RuntimeError("template broken for this lead")
        return real(**kwargs)

    monkeypatch.setattr(sweep, "escalation_notify", notify)
    next_step_before = Lead.objects.get(pk=poison).sla_next_step_at
    with caplog.at_level(logging.ERROR, logger="flows.services.sweep"):
        fired = sla_tick(now=SWEEP_NOW)

    assert fired == 5
    healthy = [lead_id for lead_id in due if lead_id != poison]
    assert LeadEvent.objects.filter(lead_id__in=healthy, type=LeadEvent.Type.REMINDER).count() == 5
    assert StepFiring.objects.filter(lead_id__in=healthy).count() == 5
    assert set(OutboxMessage.objects.filter(lead_id__in=healthy, template__endswith="remind.txt").values_list("lead_id", flat=True)) == set(healthy)
    assert not Lead.objects.filter(pk__in=healthy, sla_next_step_at__lte=SWEEP_NOW).exists()

    lead = Lead.objects.get(pk=poison)
    assert lead.sla_next_step_at == next_step_before <= SWEEP_NOW  # still due: the next sweep tries again
    assert not StepFiring.objects.filter(lead=lead).exists()
    assert not LeadEvent.objects.filter(lead=lead, type__in=[LeadEvent.Type.REMINDER, LeadEvent.Type.NOTIFICATION]).exists()
    assert not OutboxMessage.objects.filter(lead=lead).exists()
    failures = [record for record in caplog.records if record.exc_info]
    assert [record.getMessage() for record in failures] == [
        "SLA sweep: a chunk of 6 lead(s) failed; its leads are tried one by one",
        f"SLA sweep: lead {poison} failed",
    ]

    monkeypatch.setattr(sweep, "escalation_notify", real)  # mended: the next sweep fires it, and only it
    assert sla_tick(now=SWEEP_NOW) == 1
    assert StepFiring.objects.filter(lead=lead).count() == 1
