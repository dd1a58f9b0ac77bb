"""Faults, proven on PostgreSQL with real processes (issue 13, build item 4).

- 200 concurrent intakes over HTTP against gunicorn (4 sync workers): none lost, none duplicated, the Demo
  pool split strictly in turn; then 20 posts at once with one Idempotency-Key store one lead;
- a gunicorn worker killed (kill -9) while its intake waits on a lock, inside the transaction (the pool row, or the
  task queue its messages go to, the last write before the one commit): nothing partial is stored, a retry with the same Idempotency-Key
  stores exactly one lead, and its e-mails still go out once;
- a webhook receiver down for a while (refused, then 503): every message delivered exactly once after;
- a django-q2 cluster killed (kill -9) while it delivers a webhook: after a restart the message is delivered
  (at least once on the wire, always with the same X-Leadrouter-Delivery key; answered and marked sent once);
- a django-q2 cluster killed in the middle of an SLA sweep: nothing of the half-done lead stays, and the
  sweep after the restart fires every step once;
- two and three SLA sweeps at once: every due step fires once, no step, event or outbox row twice.

gunicorn and qcluster run as subprocesses against the test database (tests/faults_support.py): the tests
commit (`transaction=True`), and every process is killed by process group when the test ends.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Success
from django_q.tasks import async_task

import flows.services.sweep as sweep
from flows.services.leads import lead_create
from flows.services.sweep import sla_tick
from notifications.delivery import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from notifications.models import Channel, OutboxMessage
from notifications.tasks import SEND_MANY_TASK, SEND_TASK, outbox_retry_due, outbox_send
from reps.models import Pool, RepDayLoad
from routing.models import Lead, LeadEvent, Rule
from routing.services.intake import intake_source_create
from sla.models import EscalationStep, StepFiring
from tests.faults_support import (
    GUNICORN_KILL_PORT,
    GUNICORN_PORT,
    RECEIVER_PORT,
    children,
    group_alive,
    gunicorn,
    pid_with_local_port,
    qcluster,
    session_database_url,
    wait_until,
)
from tests.http_receiver import HttpReceiver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY_10 = datetime(2026, 11, 17, 10, 0, tzinfo=WARSAW)
DEMO_POOL = ["kasia", "marek", "ola"]  # membership order: the order of the turn
WEBHOOK_SECRET = "faults-webhook-secret"
Status = OutboxMessage.Status


@pytest.fixture
def spawn(transactional_db, tmp_path):
    """Start processes through `spawn(process)`; all are killed (whole process group) when the test ends,
    before the test database is flushed."""
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("the process fault tests watch gunicorn and qcluster through /proc (Linux)")
    started = []

    def register(process):
        started.append(process)
        return process

    yield register
    for process in reversed(started):
        process.stop()


@pytest.fixture
def orm_broker():
    if "orm" not in settings.Q_CLUSTER:
        pytest.skip("the fault tests read django-q2's queue: they need the ORM broker (REDIS_URL unset)")


def demo_company() -> None:
    call_command("load_demo", stdout=StringIO())


def demo_request(i: int) -> dict:
    return {"email": f"zakupy{i}@fabryka-{i}.example", "first_name": "Zofia", "company": f"Fabryka {i}", "source": "demo_request", "message": "Chcemy demo"}


def webinar(i: int) -> dict:
    """A webinar sign-up, as the intake form hands it to lead_create (submitted now)."""
    return {"email": f"uczestnik{i}@zaklad-{i}.example", "first_name": "Jan", "company": f"Zakład {i}", "source": "webinar", "submitted_at": timezone.now()}


def post_lead(port: int, token: str, body: dict, *, key: str) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{port}/api/v1/leads/",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        timeout=(10, 60),
    )


def owners_by_username(leads) -> Counter:
    return Counter(leads.values_list("owner__user__username", flat=True))


def assert_every_lead_whole() -> None:
    """No lead without its received event and exactly one routing event; no lead left unrouted."""
    routing_types = [LeadEvent.Type.ASSIGNED, LeadEvent.Type.UNASSIGNED, LeadEvent.Type.DISQUALIFIED]
    for lead in Lead.objects.annotate(
        received=Count("events", filter=Q(events__type=LeadEvent.Type.RECEIVED)),
        routed=Count("events", filter=Q(events__type__in=routing_types)),
    ):
        assert (lead.received, lead.routed) == (1, 1), f"lead {lead.pk}: {lead.received} received and {lead.routed} routing events"
        assert lead.status in (Lead.Status.ASSIGNED, Lead.Status.UNASSIGNED, Lead.Status.DISQUALIFIED)
        assert lead.explanation  # routed: the engine's reasons are stored with the outcome
        assert (lead.owner_id is not None) == (lead.status == Lead.Status.ASSIGNED)
        assert lead.sla_policy_id is not None and lead.priority


def assert_pool_books_balance(pool_name: str = "Demo") -> None:
    """Every pick from the pool (an assignment at intake, a reassignment by the SLA sweep) is counted once: the
    pool's pointer names the rep of the latest pick, each rep's day load is the picks they got, and each rule's
    hit count is the leads it routed."""
    pool = Pool.objects.get(name=pool_name)
    picks = LeadEvent.objects.filter(type__in=[LeadEvent.Type.ASSIGNED, LeadEvent.Type.REASSIGNED], lead__pool=pool, rep__isnull=False)
    if picks.exists():
        assert pool.rotation["last_rep_id"] == picks.latest("id").rep_id
    loads = dict(RepDayLoad.objects.values("rep__user__username").annotate(n=Sum("assigned")).filter(n__gt=0).values_list("rep__user__username", "n"))
    assert loads == dict(Counter(picks.values_list("rep__user__username", flat=True)))
    for rule in Rule.objects.filter(hits__gt=0):
        assert rule.hits == Lead.objects.filter(rule=rule).count(), rule.name


# ---------------------------------------------------------------------------------------------- 200 at once


N_INTAKES = 200


def burst(n: int, send) -> list[tuple]:
    """`send(i)` for i in range(n) from n threads released together; (status, JSON body) of each answer."""
    barrier = threading.Barrier(n)
    answers: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            response = send(i)
            answers[i] = (response.status_code, response.json())
        except Exception as exc:  # reported by the caller with the others
            answers[i] = ("error", repr(exc))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, 90 - (time.monotonic() - started)))
    assert not any(thread.is_alive() for thread in threads), "some requests got no answer within 90 s"
    return answers


def test_200_concurrent_intakes_over_http_none_lost_none_duplicated_demo_pool_in_turn(spawn, tmp_path, orm_broker):
    demo_company()
    _source, token = intake_source_create(name="Website form")
    server = spawn(gunicorn(port=GUNICORN_PORT, workers=4, log_dir=tmp_path))

    answers = burst(N_INTAKES, lambda i: post_lead(GUNICORN_PORT, token, demo_request(i), key=f"burst-{i}"))

    failed = [(i, answer) for i, answer in enumerate(answers) if answer is None or answer[0] != 201]
    assert not failed, f"{len(failed)} intakes not 201, e.g. {failed[:3]}\n{server.log()}"
    ids = [body["id"] for _status, body in answers]
    assert len(set(ids)) == N_INTAKES  # 200 distinct leads answered

    # None lost, none duplicated.
    assert Lead.objects.count() == N_INTAKES
    assert set(Lead.objects.values_list("id", flat=True)) == set(ids)
    assert Lead.objects.values("email_key").distinct().count() == N_INTAKES
    assert Lead.objects.values("idempotency_key").distinct().count() == N_INTAKES
    for i, (_status, body) in enumerate(answers):
        assert Lead.objects.get(pk=body["id"]).idempotency_key == f"burst-{i}"
    assert_every_lead_whole()

    # Split across the Demo pool within one of each other, strictly in turn.
    demo = Lead.objects.filter(pool__name="Demo", status=Lead.Status.ASSIGNED, rule__name__startswith="Demo request")
    counts = owners_by_username(demo)
    assert demo.count() == N_INTAKES and set(counts) == set(DEMO_POOL)
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    picks = list(LeadEvent.objects.filter(type=LeadEvent.Type.ASSIGNED).order_by("id").values_list("rep__user__username", flat=True))
    assert picks == [DEMO_POOL[i % 3] for i in range(N_INTAKES)]  # events are written under the pool lock
    assert Counter(body["owner"]["email"].split("@")[0] for _status, body in answers) == counts
    assert_pool_books_balance()

    # Each lead's calendar link queued once, and each outbox row handed to the queue once, after commit.
    per_lead = Counter(OutboxMessage.objects.filter(template__contains="calendar_link").values_list("lead_id", flat=True))
    assert set(per_lead) == set(ids) and set(per_lead.values()) == {1}
    assert_each_message_queued_once()
    assert OrmQ.objects.count() <= N_INTAKES  # one task per lead at most, not one per message

    # A form retrying while its first try is still in flight: 20 posts with one key at once store one lead.
    twins = burst(20, lambda i: post_lead(GUNICORN_PORT, token, demo_request(N_INTAKES), key="double-click"))
    assert Counter(status for status, _body in twins) == {201: 1, 200: 19}, twins
    assert len({body["id"] for _status, body in twins}) == 1
    assert Lead.objects.filter(idempotency_key="double-click").count() == 1 and Lead.objects.count() == N_INTAKES + 1
    assert_every_lead_whole()
    assert_pool_books_balance()


# ---------------------------------------------------------------------------------------------- kill -9 a worker


def blocked_backends(locker_pid: int) -> list[tuple[int, int]]:
    """(backend pid, client port) of sessions of this database waiting for a lock held by `locker_pid`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database() AND %s = ANY(pg_blocking_pids(pid))",
            [locker_pid],
        )
        return cursor.fetchall()


def tables_written_by(pid: int) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relation::regclass::text FROM pg_locks WHERE pid = %s AND mode = 'RowExclusiveLock' AND relation IS NOT NULL", [pid])
        return {name.strip('"') for (name,) in cursor.fetchall()}


def backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None


def books() -> dict:
    """What an intake moves: leads, events, outbox rows, the Demo pool's pointer, day loads, rule hits."""
    return {
        "leads": Lead.objects.count(),
        "events": LeadEvent.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "rotation": Pool.objects.get(name="Demo").rotation,
        "loads": list(RepDayLoad.objects.order_by("id").values_list("rep_id", "assigned")),
        "hits": list(Rule.objects.order_by("id").values_list("id", "hits")),
    }


def queued_message_ids() -> list[int]:
    """The outbox message ids in the ORM queue's send tasks: one task per message, or one per lead's messages."""
    ids: list[int] = []
    for queued in OrmQ.objects.order_by("id"):
        func = queued.task.get("func")
        if func == SEND_TASK:
            ids.append(queued.task["args"][0])
        elif func == SEND_MANY_TASK:
            ids.extend(queued.task["args"][0])
    return ids


def assert_each_message_queued_once(messages=None) -> None:
    queued = Counter(queued_message_ids())
    wanted = Counter((messages if messages is not None else OutboxMessage.objects.all()).values_list("id", flat=True))
    assert queued == wanted, (queued, wanted)


def run_queued_sends() -> list[tuple[int, str]]:
    """Do what a cluster worker does with every queued send task: (message id, outcome) for each."""
    return [(message_id, outbox_send(message_id)) for message_id in queued_message_ids()]


@pytest.mark.parametrize("killed", ["waiting on the pool", "queueing its messages"])
def test_worker_killed_mid_intake_stores_nothing_partial_and_the_retry_stores_one_lead(killed, spawn, tmp_path, orm_broker, mailoutbox):
    """kill -9 the gunicorn worker of an intake that waits on a lock: on the Demo pool row (nothing written yet: a lead
    is decided before it is stored, docs/performance.md) or on the task queue (the last write: the rep's load, the
    pool's turn, the lead, its events and outbox rows written, its one django-q2 task row going in with them). Both are
    inside the lead's one transaction, so nothing of it stays."""
    demo_company()
    _source, token = intake_source_create(name="Website form")
    server = spawn(gunicorn(port=GUNICORN_KILL_PORT, workers=2, log_dir=tmp_path))

    first = post_lead(GUNICORN_KILL_PORT, token, demo_request(0), key="form-0")
    assert first.status_code == 201 and first.json()["owner"]["email"].startswith("kasia@")
    before = books()

    locker = psycopg.connect(session_database_url(), connect_timeout=5)
    try:
        if killed == "waiting on the pool":
            locker.execute(f"SELECT id FROM {Pool._meta.db_table} WHERE name = 'Demo' FOR UPDATE")
        else:
            locker.execute(f"LOCK TABLE {OrmQ._meta.db_table} IN EXCLUSIVE MODE")
        locker_pid = locker.info.backend_pid
        outcome: dict = {}

        def slow_intake() -> None:
            try:
                outcome["response"] = post_lead(GUNICORN_KILL_PORT, token, demo_request(1), key="form-1")
            except requests.RequestException as exc:
                outcome["error"] = exc

        client = threading.Thread(target=slow_intake, daemon=True)
        client.start()
        [(backend_pid, client_port)] = wait_until(lambda: blocked_backends(locker_pid), timeout=15, what="the intake to wait on the lock")
        # Half-way: waiting on the queue, its transaction has written (uncommitted) the load, the turn, the lead,
        # its events and its outbox rows; waiting on the pool, nothing yet.
        if killed == "queueing its messages":
            written = {RepDayLoad._meta.db_table, Pool._meta.db_table, Lead._meta.db_table, LeadEvent._meta.db_table, OutboxMessage._meta.db_table}
            assert written <= tables_written_by(backend_pid)
        else:
            assert tables_written_by(backend_pid) == set()
        assert not Lead.objects.filter(idempotency_key="form-1").exists()
        workers = children(server.pid)
        worker = pid_with_local_port(client_port, workers)
        assert worker in workers, f"no gunicorn worker owns the database connection on port {client_port}"

        os.kill(worker, signal.SIGKILL)
        client.join(timeout=15)
        assert not client.is_alive()
        assert "response" not in outcome and isinstance(outcome.get("error"), requests.ConnectionError), outcome
    finally:
        # The lock goes. The dead worker's session, still waiting, gets it, finds its client gone and ends: an
        # open transaction is rolled back (nothing commits without the client's COMMIT).
        locker.rollback()
        locker.close()
    wait_until(lambda: not backend_alive(backend_pid), timeout=15, what="the dead worker's database session to end")

    after = books()
    assert after == before  # nothing partial: no lead, event, message, pointer move, load or hit
    assert_every_lead_whole()
    assert_pool_books_balance()

    # gunicorn replaced the worker; the form's retry (same key) stores one lead in all, the next in turn's.
    wait_until(lambda: len(children(server.pid)) == 2 and worker not in children(server.pid), timeout=15, what="a new worker")
    retry = post_lead(GUNICORN_KILL_PORT, token, demo_request(1), key="form-1")
    assert retry.status_code == 201, retry.text
    again = post_lead(GUNICORN_KILL_PORT, token, demo_request(1), key="form-1")
    assert again.status_code == 200 and again.json()["id"] == retry.json()["id"]
    lead = Lead.objects.get(idempotency_key="form-1")
    assert retry.json()["owner"]["email"].startswith("marek@") and lead.owner.user.username == "marek"
    assert Lead.objects.count() == 2
    assert_every_lead_whole()
    assert_pool_books_balance()

    # Its e-mails still go out, each once: queued by the hook, or (its task lost with the worker) by the sweep.
    assert outbox_retry_due(timezone.now() + timedelta(minutes=2)) >= 1  # rows whose task may never have run
    outcomes = run_queued_sends()
    assert OutboxMessage.objects.filter(lead=lead).exists()
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    assert Counter(message_id for message_id, result in outcomes if result == "sent") == Counter(OutboxMessage.objects.values_list("id", flat=True))
    to_the_lead = OutboxMessage.objects.filter(lead=lead, recipient=lead.email)  # (its owner is told too, by e-mail and SMS)
    assert to_the_lead.exists() and sum(lead.email in email.to for email in mailoutbox) == to_the_lead.count()


# ---------------------------------------------------------------------------------------------- receiver outage


def campaign_channel(url: str) -> Channel:
    channel = Channel.objects.get(name="Mailing campaign webhook")
    channel.url, channel.secret = url, WEBHOOK_SECRET
    channel.save(update_fields=["url", "secret"])
    return channel


def assert_signed(request) -> None:
    expected = webhook_signature(secret=WEBHOOK_SECRET, timestamp=request.header(TIMESTAMP_HEADER), body=request.body)
    assert request.header(SIGNATURE_HEADER) == expected


def test_webhook_receiver_down_for_a_while_every_message_is_delivered_once_after(monkeypatch, settings):
    settings.NOTIFICATIONS_HTTP_TIMEOUT = (1.0, 2.0)
    monkeypatch.setattr(Conf, "SYNC", True)  # async_task runs outbox_send at once, in the caller's thread
    receiver = HttpReceiver(port=RECEIVER_PORT)  # not started: connections are refused
    demo_company()
    channel = campaign_channel(receiver.url("/hooks/campaign"))
    source, _token = intake_source_create(name="Website form")

    with time_machine.travel(TUESDAY_10, tick=False) as clock:
        leads = [lead_create(source=source, fields=webinar(i))[0] for i in range(8)]
        messages = OutboxMessage.objects.filter(channel=channel)
        assert messages.count() == 8 and set(messages.values_list("lead_id", flat=True)) == {lead.pk for lead in leads}
        assert set(messages.values_list("status", "attempts")) == {(Status.PENDING, 1)}  # the after-commit send was refused

        def next_round() -> int:
            """Move the clock to when the last message is due again, and run the every-minute sweep."""
            due = max(messages.values_list("next_attempt_at", flat=True))
            clock.move_to(due + timedelta(seconds=1))
            return outbox_retry_due()

        try:
            # Down for four more rounds of backoff (about 8 minutes): every attempt refused, nothing lost.
            for attempt in range(2, 6):
                assert next_round() == 8
                assert set(messages.values_list("status", "attempts")) == {(Status.PENDING, attempt)}
            assert all("connection failed" in error for error in messages.values_list("last_error", flat=True))

            # Back, but failing (503) for a round: it saw the messages, none counts as delivered.
            receiver.start()
            receiver.respond(503)
            assert next_round() == 8
            assert len(receiver.requests) == 8 and receiver.answered == []
            assert set(messages.values_list("status", "attempts", "last_status_code")) == {(Status.PENDING, 6, 503)}

            # Healthy again: three sweeps at once (three cluster workers) hand the messages out, each sent once.
            receiver.respond(200)
            clock.move_to(max(messages.values_list("next_attempt_at", flat=True)) + timedelta(seconds=1))
            handed = in_threads(3, outbox_retry_due)
            assert sum(handed) >= 8
            assert set(messages.values_list("status", "attempts")) == {(Status.SENT, 7)}

            # Later sweeps find nothing to send.
            for later in (timedelta(hours=1), timedelta(days=2)):
                clock.shift(later)
                assert outbox_retry_due() == 0
        finally:
            receiver.stop()

    delivered = Counter(request.header(DELIVERY_HEADER) for request in receiver.answered)
    assert delivered == Counter(set(messages.values_list("key", flat=True)))  # each message exactly once
    for request in receiver.answered:
        assert_signed(request)
    assert sorted(r.json()["lead"]["email"] for r in receiver.answered) == sorted(lead.email for lead in leads)
    assert not OutboxMessage.objects.exclude(status=Status.SENT).exists()


def in_threads(n: int, work) -> list:
    """`work()` in n threads started together, each with its own database connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish within 60 s"
    assert not errors, errors
    return results


# ---------------------------------------------------------------------------------------------- kill -9 the cluster


def test_qcluster_killed_while_delivering_the_message_is_delivered_after_restart(spawn, tmp_path, orm_broker):
    receiver = HttpReceiver(port=RECEIVER_PORT + 1).start()
    try:
        receiver.hang(60)  # accepts the request and never answers while the first cluster lives
        demo_company()
        channel = campaign_channel(receiver.url("/hooks/campaign"))
        source, _token = intake_source_create(name="Website form")
        lead, _created = lead_create(source=source, fields=webinar(1))  # committed with its one task in the ORM queue
        message = OutboxMessage.objects.get(channel=channel, lead=lead)
        assert_each_message_queued_once()

        first = spawn(qcluster(log_dir=tmp_path, name="qcluster-1"))
        wait_until(lambda: receiver.requests or not first.alive(), timeout=45, what="the cluster to start sending")
        assert first.alive(), first.log()
        message.refresh_from_db()
        assert message.status == Status.SENDING and message.attempts == 1

        first.kill_group()  # kill -9 the whole cluster: sentinel, pusher, monitor, workers
        assert not group_alive(first.pid)
        message.refresh_from_db()
        assert message.status == Status.SENDING and receiver.answered == []  # stuck with a dead worker

        # The receiver recovers; a new cluster starts. Its every-minute sweep puts a row back once it has been
        # "sending" longer than NOTIFICATIONS_STUCK_AFTER (10 min): the clock is moved that far for the sweep.
        receiver.respond(200)
        second = spawn(qcluster(log_dir=tmp_path, name="qcluster-2"))
        async_task("notifications.tasks.outbox_retry_due", timezone.now() + settings.NOTIFICATIONS_STUCK_AFTER + timedelta(seconds=1))
        wait_until(lambda: receiver.answered or not second.alive(), timeout=45, what="the message to be delivered after the restart")
        assert second.alive(), second.log()
        wait_until(lambda: OutboxMessage.objects.get(pk=message.pk).status == Status.SENT, timeout=10, what="the outbox row to be marked sent")

        message.refresh_from_db()
        assert message.attempts == 2 and message.sent_at is not None and message.last_status_code == 200
        # At least once on the wire (the first try reached the receiver, unanswered), always with the same
        # delivery key, so the receiver can drop a repeat; delivered (answered 2xx) exactly once.
        assert [r.header(DELIVERY_HEADER) for r in receiver.requests] == [message.key, message.key]
        assert [r.header(DELIVERY_HEADER) for r in receiver.answered] == [message.key]
        assert_signed(receiver.answered[0])
        assert receiver.answered[0].json()["lead"]["email"] == lead.email

        # The killed worker's task comes back from the broker later (its lease runs out): it changes nothing.
        assert outbox_send(message.pk) == "skipped"
        time.sleep(1.0)  # the running cluster has nothing more to send either
        assert len(receiver.answered) == 1
    finally:
        receiver.stop()


def test_qcluster_killed_mid_sla_sweep_the_steps_fire_once_after_restart(spawn, tmp_path, orm_broker):
    """The sweep's work for a lead is one transaction: killed half-way (the reminder written, the reassignment
    waiting for the pool), nothing of it stays, and the sweep after the restart fires every step once."""
    demo_company()
    source, _token = intake_source_create(name="Website form")
    leads = [lead_create(source=source, fields={**demo_request(i), "submitted_at": TUESDAY_10}, now=TUESDAY_10)[0] for i in range(4)]
    at = datetime(2026, 11, 17, 10, 40, tzinfo=WARSAW)  # remind (15) and reassign (30) are due
    outbox_before = OutboxMessage.objects.count()

    locker = psycopg.connect(session_database_url(), connect_timeout=5)
    try:
        locker.execute(f"SELECT id FROM {Pool._meta.db_table} WHERE name = 'Demo' FOR UPDATE")
        first = spawn(qcluster(log_dir=tmp_path, name="qcluster-1"))
        async_task("flows.services.sweep.sla_tick", now=at, task_name="sweep-1")
        [(backend_pid, _port)] = wait_until(lambda: blocked_backends(locker.info.backend_pid) or not first.alive(), timeout=45, what="the sweep to wait on the pool")
        assert first.alive(), first.log()
        # Half-way: the reminder's step and event are written, uncommitted (its message is queued by the sweep once
        # all of the lead's steps are done, in the same transaction: flows.services.sweep).
        assert {StepFiring._meta.db_table, LeadEvent._meta.db_table} <= tables_written_by(backend_pid)
        first.kill_group()
        assert not group_alive(first.pid)
    finally:
        locker.rollback()
        locker.close()
    wait_until(lambda: not backend_alive(backend_pid), timeout=15, what="the dead worker's database session to end")
    assert not StepFiring.objects.exists() and not LeadEvent.objects.filter(type=LeadEvent.Type.REMINDER).exists()
    assert OutboxMessage.objects.count() == outbox_before

    second = spawn(qcluster(log_dir=tmp_path, name="qcluster-2"))
    async_task("flows.services.sweep.sla_tick", now=at, task_name="sweep-2")  # the next run of its every-minute schedule
    done = wait_until(lambda: Success.objects.filter(name="sweep-2").first() or not second.alive(), timeout=45, what="the sweep after the restart")
    assert second.alive(), second.log()
    assert done.result == 2 * len(leads)

    for lead in leads:
        assert sorted(StepFiring.objects.filter(lead=lead).values_list("step__kind", flat=True)) == sorted([EscalationStep.Kind.REMIND, EscalationStep.Kind.REASSIGN])
        events = Counter(LeadEvent.objects.filter(lead=lead).values_list("type", flat=True))
        # Notifications: the owner told at intake, then one per step.
        assert (events[LeadEvent.Type.REMINDER], events[LeadEvent.Type.REASSIGNED], events[LeadEvent.Type.NOTIFICATION]) == (1, 1, 1 + 2)
        sent = Counter(OutboxMessage.objects.filter(lead=lead, template__regex=r"(remind|reassigned)").values_list("template", "channel_id", "recipient"))
        assert sent and set(sent.values()) == {1}, sent
    assert_pool_books_balance()


# ---------------------------------------------------------------------------------------------- sweeps at once


@pytest.mark.parametrize("sweeps", [2, 3])
def test_concurrent_sla_sweeps_fire_every_due_step_once_with_no_duplicate_event_or_message(sweeps, monkeypatch, orm_broker):
    demo_company()
    source, _token = intake_source_create(name="Website form")
    leads = [
        lead_create(source=source, fields={**demo_request(i), "submitted_at": TUESDAY_10}, now=TUESDAY_10)[0]
        for i in range(15)
    ]
    outbox_before, queued_before = OutboxMessage.objects.count(), Counter(queued_message_ids())
    messages_before = set(OutboxMessage.objects.values_list("id", flat=True))
    real = sweep.escalation_notify

    def slow_notify(**kwargs):
        time.sleep(0.01)  # hold each lead's row lock a little, so the sweeps really overlap
        return real(**kwargs)

    monkeypatch.setattr(sweep, "escalation_notify", slow_notify)
    at = datetime(2026, 11, 17, 11, 40, tzinfo=WARSAW)  # 100 business minutes: remind (15), reassign (30), alert (90)

    fired = in_threads(sweeps, lambda: sla_tick(now=at))

    kinds = {EscalationStep.Kind.REMIND, EscalationStep.Kind.REASSIGN, EscalationStep.Kind.ALERT_TEAM_LEAD}
    assert sum(fired) == 3 * len(leads) == StepFiring.objects.count()
    for lead in leads:
        assert sorted(StepFiring.objects.filter(lead=lead).values_list("step__kind", flat=True)) == sorted(kinds)
        events = Counter(LeadEvent.objects.filter(lead=lead).values_list("type", flat=True))
        assert (events[LeadEvent.Type.REMINDER], events[LeadEvent.Type.REASSIGNED], events[LeadEvent.Type.ESCALATED]) == (1, 1, 1)
        assert events[LeadEvent.Type.NOTIFICATION] == 1 + 3  # the owner told at intake, then one per step
        # Every message of a step once: the same template to the same address on the same channel never twice.
        sent = Counter(OutboxMessage.objects.filter(lead=lead, template__regex=r"(remind|reassigned|alert_team_lead)").values_list("template", "channel_id", "recipient"))
        assert {template.rsplit("/", 1)[-1] for template, _c, _r in sent} == {"remind.txt", "reassigned.txt", "alert_team_lead.txt"}
        assert set(sent.values()) == {1}, sent
        lead.refresh_from_db()
        assert lead.sla_next_step_at is None  # the chain is done
    new_messages = OutboxMessage.objects.count() - outbox_before
    new_ids = Counter(set(OutboxMessage.objects.values_list("id", flat=True)) - messages_before)
    assert new_messages > 0 and Counter(queued_message_ids()) - queued_before == new_ids  # each queued once, after commit

    assert in_threads(sweeps, lambda: sla_tick(now=at)) == [0] * sweeps
    assert OutboxMessage.objects.count() - outbox_before == new_messages
