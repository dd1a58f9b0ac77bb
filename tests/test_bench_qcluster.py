"""Benchmark (issue 11): a notification from intake to a local webhook receiver through a running `qcluster`.

Goal: p99 ≤ 2 s from the intake's commit to the receiver getting the request.

The TechPol demo as `make run` loads it; its "Webinar → Juniors pool" rule posts every webinar lead to the
"Mailing campaign webhook" channel, pointed here at a recording receiver on 127.0.0.1 (tests/http_receiver.py).
`manage.py qcluster` runs as a subprocess on the test database (so the test commits: `transaction=True`) with the
settings' Q_CLUSTER (2 workers; ORM broker, or Redis when it answers at 127.0.0.1:6379). The leads are posted
through the API (Django's test client, in this process) at a steady pace; for each lead the time runs from its
intake's commit (the connection's commit returning, around `lead_create`) to the receiver reading the request (both on this
process's monotonic clock). The wait for a worker (commit → the worker claims the outbox row, `claimed_at`) is
kept beside it, to tell the broker's polling from the sending.

Shapes asserted: every lead's webhook arrives exactly once and answered, with nothing failed. Times are
recorded (benchmarks.report), met or not met, never asserted. Skipped on SQLite: the cluster is another process
and SQLite's in-memory test database is not shared with it.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lr_x .venv/bin/python -m pytest -m bench --create-db -p no:randomly -s tests/test_bench_qcluster.py

BENCH_QCLUSTER_LEADS (default 60) leads, one every BENCH_QCLUSTER_PACE seconds (default 0.25); the receiver
listens on BENCH_QCLUSTER_PORT (default 18400).
"""

from __future__ import annotations

import math
import os
import sys
import time
from datetime import datetime
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django_q.brokers import get_broker
from django_q.conf import Conf

import flows.api
from benchmarks.local import redis_answers
from benchmarks.report import record
from notifications.models import Channel, OutboxMessage
from routing.services.intake import intake_source_create
from tests.conftest import migration_rows_restore
from tests.faults_support import Process, subprocess_env, wait_until
from tests.http_receiver import HttpReceiver

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(
        not ON_POSTGRES,
        reason="the qcluster is a subprocess on the test database, and SQLite's in-memory test database is not shared "
        "with it: run on PostgreSQL (DATABASE_URL=postgres://...)",
    ),
    pytest.mark.django_db(transaction=True),
]

LEADS = int(os.environ.get("BENCH_QCLUSTER_LEADS", "60"))
PACE = float(os.environ.get("BENCH_QCLUSTER_PACE", "0.25"))  # seconds between two posts
RECEIVER_PORT = int(os.environ.get("BENCH_QCLUSTER_PORT", "18400"))
REDIS_URL = os.environ.get("BENCH_QCLUSTER_REDIS_URL", "redis://127.0.0.1:6379/14")  # a database of its own
GOAL_SECONDS = 2.0
WORKERS = "2"  # the settings' default (Q_WORKERS)


@pytest.fixture(autouse=True)
def _restore_migration_rows():
    """Put back the schedules and the live rule table after the transactional test's flush (for the tests after it)."""
    yield
    migration_rows_restore()


@pytest.fixture
def broker(request, monkeypatch):
    """The broker, "orm" (the settings' default) or "redis": this process enqueues where the cluster dequeues."""
    kind = request.param
    if kind == "redis":
        if not redis_answers():
            pytest.skip("Redis does not answer at 127.0.0.1:6379")
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
        get_broker().purge_queue()  # nothing left over from an earlier run
    else:
        monkeypatch.setattr(Conf, "ORM", "default")
    monkeypatch.setattr(Conf, "SYNC", False)
    return kind


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@pytest.mark.parametrize("broker", ["orm", "redis"], indirect=True)
def test_bench_notification_from_intake_to_a_webhook_through_a_running_qcluster(broker, settings, monkeypatch, tmp_path):
    settings.INTAKE_RATE_LIMIT = "off"
    call_command("load_demo", stdout=StringIO())
    _source, token = intake_source_create(name="Website form")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    # The intake's commit, per lead: the moment the database connection's commit returns (intake is one commit:
    # tests/test_query_counts.py), before any after-commit hook runs (with Redis, the enqueue is one of them).
    database = connections["default"]
    commit = database.commit
    last_commit: list[tuple[float, datetime]] = []

    def timed_commit():
        commit()
        last_commit.append((time.monotonic(), datetime.now().astimezone()))

    monkeypatch.setattr(database, "commit", timed_commit)
    commits: dict[str, tuple[float, datetime]] = {}
    lead_create = flows.api.lead_create

    def timed_lead_create(**kwargs):
        last_commit.clear()
        lead, created = lead_create(**kwargs)
        assert len(last_commit) == 1, f"{len(last_commit)} commits for one lead"
        commits[lead.email] = last_commit[0]
        return lead, created

    monkeypatch.setattr(flows.api, "lead_create", timed_lead_create)

    def post(email: str) -> None:
        body = {"email": email, "first_name": "Jan", "company": "Zakład", "source": "webinar"}
        response = api.post("/api/v1/leads/", data=body, content_type="application/json")
        assert response.status_code == 201, response.content

    receiver = HttpReceiver(port=RECEIVER_PORT).start()
    env = subprocess_env(Q_WORKERS=WORKERS, REDIS_URL=REDIS_URL if broker == "redis" else "")
    cluster = Process(f"qcluster-{broker}", [sys.executable, "manage.py", "qcluster"], tmp_path, env=env, grace=0)
    try:
        channel = Channel.objects.get(name="Mailing campaign webhook")
        channel.url = receiver.url("/hooks/campaign")
        channel.save(update_fields=["url"])

        started = time.monotonic()
        cluster.start()
        # Warm up: the cluster has started and delivered one lead's webhook before anything is measured.
        post("rozgrzewka@zaklad.example")
        wait_until(lambda: receiver.answered or not cluster.alive(), timeout=90, what="the cluster to deliver the first webhook")
        assert cluster.alive(), cluster.log()
        first_delivery = time.monotonic() - started

        emails = [f"uczestnik{i}@zaklad-{i}.example" for i in range(LEADS)]
        due = time.monotonic()
        for email in emails:
            time.sleep(max(0.0, due - time.monotonic()))
            post(email)
            due += PACE
        wait_until(lambda: len(receiver.answered) >= LEADS + 1 or not cluster.alive(), timeout=60 + 2 * LEADS, what=f"{LEADS} webhooks")
        assert cluster.alive(), cluster.log()
        time.sleep(0.5)  # a repeat would come now

        # Shapes: each lead's webhook arrived once, answered; nothing failed or is still waiting.
        got: dict[str, list[float]] = {}
        for request in receiver.answered:
            got.setdefault(request.json()["lead"]["email"], []).append(request.at)
        assert sorted(got) == sorted(["rozgrzewka@zaklad.example", *emails])
        assert all(len(times) == 1 for times in got.values()), {email: len(t) for email, t in got.items() if len(t) != 1}
        assert len(receiver.requests) == len(receiver.answered)
        webhooks = OutboxMessage.objects.filter(channel=channel)
        assert set(webhooks.values_list("status", flat=True)) == {OutboxMessage.Status.SENT}

        latencies = [got[email][0] - commits[email][0] for email in emails]
        assert all(latency > 0 for latency in latencies)

        # Where the time goes: waiting for a worker (commit -> the worker claims the message: the broker's poll,
        # the pusher, the worker queue) vs sending it (claim -> the receiver has the request).
        claimed = dict(webhooks.values_list("lead__email", "claimed_at"))
        waits = [(claimed[email] - commits[email][1]).total_seconds() for email in emails]
    finally:
        cluster.stop()
        receiver.stop()
        if broker == "redis":
            get_broker().purge_queue()

    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    detail = {
        "broker": broker,
        "leads": LEADS,
        "pace_s": PACE,
        "workers": int(WORKERS),
        "poll_s": Conf.POLL,
        "max_s": round(max(latencies), 3),
        "worker_wait_p50_s": round(percentile(waits, 50), 3),
        "worker_wait_p99_s": round(percentile(waits, 99), 3),
        "first_delivery_after_start_s": round(first_delivery, 1),
    }
    name = f"intake → webhook through a running qcluster ({broker} broker)"
    record(f"{name}: p50", p50, "s", goal=f"≤ {GOAL_SECONDS:g} s", met=p50 <= GOAL_SECONDS, **detail)
    record(f"{name}: p99", p99, "s", goal=f"≤ {GOAL_SECONDS:g} s", met=p99 <= GOAL_SECONDS, **detail)
    print(f"\n{name}: p50 {p50:.3f} s, p99 {p99:.3f} s; {detail}")
