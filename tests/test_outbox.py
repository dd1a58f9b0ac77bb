"""The outbox: claimed once, retried with backoff on timeouts / 5xx / refused connections, failed for good on
4xx, swept every minute, never sent twice; against a real HTTP server on 127.0.0.1."""

import logging
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule

from flows.services.leads import rule_actions_carry_out
from notifications.delivery import DeliveryError, redact, sms_request
from notifications.models import Channel, OutboxMessage
from notifications.services import message_enqueue, outbox_resend
from notifications.tasks import backoff, outbox_retry_due, outbox_send
from routing.models import LeadEvent, Rule
from tests.factories import LeadFactory
from tests.http_receiver import (
    HttpReceiver,
    free_port,
    receiver,  # noqa: F401  (fixture)
)

SECRET_PATH = "/hooks/T0SECRETAAA/B0SECRETBBB/zzSecretTailCCC"
SECRET = "hmac-SECRET-key-DDD"
SECRETS = ("T0SECRETAAA", "B0SECRETBBB", "zzSecretTailCCC", SECRET)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The demo sets nine passwords; the default hasher makes that seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def short_timeouts(settings):
    settings.NOTIFICATIONS_HTTP_TIMEOUT = (1.0, 0.5)


@pytest.fixture
def q_sync(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)


def webhook_at(port: int, *, name: str = "CRM webhook", kind: str = Channel.Kind.WEBHOOK) -> Channel:
    return Channel.objects.create(name=name, kind=kind, url=f"http://127.0.0.1:{port}{SECRET_PATH}", secret=SECRET)


def message_for(channel: Channel, n: int = 1, **payload) -> OutboxMessage:
    return message_enqueue(
        lead=None,
        event_key=f"test{n}",
        channel=channel,
        recipient="channel",
        subject=f"Message {n}",
        body="body",
        payload={"title": f"Message {n}", "text": "body", "webhook": {"event": "test", "n": n}, **payload},
    )


def state(message: OutboxMessage) -> OutboxMessage:
    message.refresh_from_db()
    return message


# ---------------------------------------------------------------------------------------------- outcomes


@pytest.mark.django_db
def test_2xx_marks_the_message_sent(receiver):  # noqa: F811
    message = message_for(webhook_at(receiver.port))

    assert outbox_send(message.pk) == "sent"

    message = state(message)
    assert message.status == OutboxMessage.Status.SENT and message.attempts == 1 and message.last_status_code == 200
    assert len(receiver.answered) == 1


@pytest.mark.django_db
def test_a_sent_message_is_never_sent_again(receiver):  # noqa: F811
    message = message_for(webhook_at(receiver.port))
    outbox_send(message.pk)

    assert outbox_send(message.pk) == "skipped"
    assert outbox_resend(messages=OutboxMessage.objects.filter(pk=message.pk)) == 0
    assert outbox_retry_due(timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_4xx_fails_for_good_and_is_not_retried(receiver):  # noqa: F811
    receiver.respond(404, "no_service")
    message = message_for(webhook_at(receiver.port))

    assert outbox_send(message.pk) == "failed"

    message = state(message)
    assert message.status == OutboxMessage.Status.FAILED
    assert "HTTP 404" in message.last_error and "no_service" in message.last_error
    assert message.next_attempt_at is None
    assert outbox_retry_due(timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_5xx_is_retried_later_with_growing_delays(receiver):  # noqa: F811
    receiver.respond(503)
    message = message_for(webhook_at(receiver.port))

    delays = []
    for _ in range(4):
        before = timezone.now()
        assert outbox_send(message.pk) == "retry"
        message = state(message)
        assert message.status == OutboxMessage.Status.PENDING and message.last_status_code == 503
        delays.append((message.next_attempt_at - before).total_seconds())

    assert delays == sorted(delays) and delays[0] < 60 and delays[-1] > 3 * delays[0]
    assert message.attempts == 4


def test_backoff_doubles_up_to_an_hour():
    assert 24 <= backoff(1).total_seconds() <= 36
    assert 48 <= backoff(2).total_seconds() <= 72
    assert timedelta(minutes=48) <= backoff(30) <= timedelta(hours=1)
    assert backoff(1, retry_after=600).total_seconds() >= 600


@pytest.mark.django_db
def test_429_too_many_requests_is_retried_not_failed(receiver):  # noqa: F811
    receiver.respond(429)
    message = message_for(webhook_at(receiver.port))
    outbox_send(message.pk)

    assert state(message).status == OutboxMessage.Status.PENDING


@pytest.mark.django_db
def test_hanging_receiver_times_out_and_is_retried_later(receiver):  # noqa: F811
    receiver.hang(5)
    message = message_for(webhook_at(receiver.port))

    started = time.monotonic()
    assert outbox_send(message.pk) == "retry"
    assert time.monotonic() - started < 3  # the read timeout (0.5 s here), not the receiver, decides

    message = state(message)
    assert message.status == OutboxMessage.Status.PENDING
    assert "read timeout" in message.last_error
    receiver.respond(200)
    with_retry_due = message.next_attempt_at + timedelta(seconds=1)
    assert outbox_retry_due(with_retry_due) == 1
    assert outbox_send(message.pk) == "sent"
    assert len(receiver.answered) == 1


@pytest.mark.django_db
def test_receiver_down_then_up_delivers_each_message_exactly_once(q_sync):
    down = HttpReceiver(port=free_port())  # nothing listens yet: connections are refused
    channel = webhook_at(down.port)
    messages = [message_for(channel, n) for n in range(5)]

    for message in messages:
        assert outbox_send(message.pk) == "retry"
    assert all("connection failed" in state(m).last_error for m in messages)

    with down:
        assert outbox_retry_due(timezone.now() + timedelta(hours=2)) == 5  # sync mode: sent right away
        assert outbox_retry_due(timezone.now() + timedelta(hours=2)) == 0
        assert outbox_retry_due(timezone.now() + timedelta(hours=3)) == 0

    assert sorted(r.json()["n"] for r in down.answered) == [0, 1, 2, 3, 4]
    assert len(down.requests) == 5
    assert all(state(m).status == OutboxMessage.Status.SENT for m in messages)


@pytest.mark.django_db
def test_retries_stop_after_the_retry_window_and_the_message_fails(settings):
    settings.NOTIFICATIONS_RETRY_FOR = timedelta(hours=6)
    message = message_for(webhook_at(free_port()))

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert outbox_send(message.pk) == "retry"
        traveller.shift(timedelta(hours=7))
        assert outbox_send(message.pk) == "failed"

    message = state(message)
    assert message.status == OutboxMessage.Status.FAILED
    assert "given up" in message.last_error


@pytest.mark.django_db
def test_send_again_requeues_a_failed_message_with_a_fresh_retry_window(receiver, django_capture_on_commit_callbacks, q_sync):  # noqa: F811
    receiver.respond(400)
    message = message_for(webhook_at(receiver.port))
    outbox_send(message.pk)
    receiver.respond(200)

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_resend(messages=OutboxMessage.objects.all()) == 1

    message = state(message)
    assert message.status == OutboxMessage.Status.SENT and message.attempts == 2
    assert len(receiver.answered) == 1


# ---------------------------------------------------------------------------------------------- the sweep


@pytest.mark.django_db
def test_sweep_recovers_a_message_stuck_in_sending(receiver, q_sync):  # noqa: F811
    message = message_for(webhook_at(receiver.port))
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.SENDING, claimed_at=timezone.now(), attempts=1)

    assert outbox_retry_due(timezone.now() + timedelta(minutes=1)) == 0  # its worker may still be busy
    assert outbox_retry_due(timezone.now() + timedelta(minutes=11)) == 1

    assert state(message).status == OutboxMessage.Status.SENT
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_sweep_sends_messages_whose_after_commit_task_was_lost(receiver, monkeypatch, django_capture_on_commit_callbacks, caplog):  # noqa: F811
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("notifications.tasks.async_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        message = message_for(webhook_at(receiver.port))
    assert "the retry sweep will send it" in caplog.text
    monkeypatch.undo()
    monkeypatch.setattr(Conf, "SYNC", True)

    assert outbox_retry_due(timezone.now()) == 0  # fresh: still the after-commit task's
    assert outbox_retry_due(timezone.now() + timedelta(minutes=2)) == 1

    assert state(message).status == OutboxMessage.Status.SENT


@pytest.mark.django_db
def test_sweep_twice_for_the_same_moment_hands_out_nothing_the_second_time(receiver):  # noqa: F811
    message = message_for(webhook_at(receiver.port))
    later = timezone.now() + timedelta(minutes=5)

    assert outbox_retry_due(later) == 1  # ORM broker: one task queued
    assert outbox_retry_due(later) == 0
    assert OrmQ.objects.count() == 1
    assert state(message).status == OutboxMessage.Status.PENDING


@pytest.mark.django_db
def test_the_sweep_runs_every_minute_from_a_schedule():
    schedule = Schedule.objects.get(func="notifications.tasks.outbox_retry_due")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1 and schedule.repeats == -1


# ---------------------------------------------------------------------------------------------- intake latency


@pytest.mark.django_db
def test_a_hanging_receiver_does_not_slow_the_transaction_that_queues_the_message(demo, piotr, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    receiver.hang(5)
    Channel.objects.filter(name="Slack #sales-alerts").update(url=receiver.url(SECRET_PATH))
    rule = Rule.objects.get(position=6)
    lead = LeadFactory(rule=rule, owner=piotr, message="awaria", priority="critical")
    event = LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.ASSIGNED, at=timezone.now())

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        rule_actions_carry_out(lead=lead, rule=rule, event=event)
    elapsed = time.monotonic() - started

    assert elapsed < 0.5  # only a row and an enqueue: the receiver is not touched
    assert receiver.requests == []
    assert OrmQ.objects.count() == 1
    message = OutboxMessage.objects.get(lead=lead)
    assert outbox_send(message.pk) == "retry"  # the worker meets the hang and its timeout


# ---------------------------------------------------------------------------------------------- secrets and URLs


@pytest.mark.django_db
@pytest.mark.parametrize("behaviour", ["down", "500 echoing the request", "hang", "404"])
def test_secrets_never_reach_the_stored_error_or_the_log(behaviour, caplog):
    caplog.set_level(logging.DEBUG)
    with HttpReceiver() as server:
        channel = webhook_at(server.port)
        if behaviour == "down":
            server.stop()
        elif behaviour == "hang":
            server.hang(3)
        elif behaviour == "404":
            server.respond(404, f"unknown hook {SECRET_PATH}")
        else:
            server.respond(500, f"cannot post to http://127.0.0.1:{server.port}{SECRET_PATH} with {SECRET}")
        message = message_for(channel)
        outbox_send(message.pk)

    message = state(message)
    assert message.last_error
    for secret in SECRETS:
        assert secret not in message.last_error
        assert secret not in caplog.text


def test_redact_removes_url_paths_and_given_secrets():
    text = "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /hooks/T0/SECRET (token abc123xyz)"
    assert redact(text, ["abc123xyz"]) == "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: [redacted] (token [redacted])"
    assert redact("see https://hooks.slack.com/services/T0/B0/xyz now") == "see https://hooks.slack.com/[redacted] now"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/"])
def test_only_http_and_https_urls_are_called(url, receiver):  # noqa: F811
    channel = Channel.objects.create(name="Odd", kind=Channel.Kind.WEBHOOK, url=url)
    message = message_for(channel)

    assert outbox_send(message.pk) == "failed"
    assert "http:// or https://" in state(message).last_error


@pytest.mark.django_db
def test_redirects_are_not_followed(receiver):  # noqa: F811
    receiver.respond(302)
    message = message_for(webhook_at(receiver.port))

    assert outbox_send(message.pk) == "failed"
    assert "redirects are not followed" in state(message).last_error
    assert len(receiver.requests) == 1


# ---------------------------------------------------------------------------------------------- SMS gateway options


@pytest.mark.django_db
def test_sms_gateway_by_get_with_form_encoding(receiver):  # noqa: F811
    channel = Channel.objects.create(
        name="SMSAPI",
        kind=Channel.Kind.SMS,
        url=receiver.url("/sms.do?format=json"),
        secret="Bearer abc",
        config={"method": "GET", "body_template": "to={{ to }}&message={{ text }}&from={{ sender }}", "sender": "TechPol"},
    )
    message = message_enqueue(
        lead=None, event_key="t", channel=channel, recipient="+48600100001", subject="Zażółć & gęślą", payload={"title": "Zażółć & gęślą"}
    )

    assert outbox_send(message.pk) == "sent"
    (request,) = receiver.requests
    assert request.method == "GET"
    assert request.path == "/sms.do?format=json&to=%2B48600100001&message=Za%C5%BC%C3%B3%C5%82%C4%87+%26+g%C4%99%C5%9Bl%C4%85&from=TechPol"
    assert request.header("Authorization") == "Bearer abc"


@pytest.mark.django_db
def test_sms_gateway_custom_auth_header_and_json_escaping():
    channel = Channel(name="GW", kind=Channel.Kind.SMS, url="https://127.0.0.1/send", secret="k3y", config={"auth_header": "X-Api-Key"})
    message = OutboxMessage(key="k", channel=channel, recipient="+48123", payload={"title": 'He said "hi"\nbye', "lead_url": "http://x/1"})

    method, url, body, headers = sms_request(message)

    assert (method, url) == ("POST", "https://127.0.0.1/send")
    assert headers["X-Api-Key"] == "k3y" and "Authorization" not in headers
    assert b'"text": "He said \\"hi\\"\\nbye http://x/1"' in body


@pytest.mark.django_db
def test_sms_gateway_template_that_is_not_json_fails_for_good():
    channel = Channel(name="GW", kind=Channel.Kind.SMS, url="https://127.0.0.1/send", config={"body_template": '{"to": {{ to }}'})
    message = OutboxMessage(key="k", channel=channel, recipient="+48123", payload={"title": "x"})

    with pytest.raises(DeliveryError) as error:
        sms_request(message)
    assert error.value.permanent


# ---------------------------------------------------------------------------------------------- two workers (PostgreSQL)


def _in_threads(count: int, target) -> list:
    barrier = threading.Barrier(count)
    results: list = []
    errors: list = []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as error:  # surfaced below: a thread's failure must fail the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_message_send_it_once(receiver):  # noqa: F811
    receiver.slow(0.2)  # the first worker is still sending when the second tries
    message = message_for(webhook_at(receiver.port))

    results = _in_threads(2, lambda: outbox_send(message.pk))

    assert sorted(results) == ["sent", "skipped"]
    assert len(receiver.requests) == 1
    assert state(message).attempts == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_workers_and_sweeps_racing_over_many_messages_send_each_once(receiver):  # noqa: F811
    channel = webhook_at(receiver.port)
    messages = [message_for(channel, n) for n in range(10)]
    ids = [m.pk for m in messages]

    def worker():
        outcomes = [outbox_send(pk) for pk in ids]
        outbox_retry_due(timezone.now() + timedelta(minutes=5))  # ORM broker: only queues
        return outcomes

    results = _in_threads(6, worker)

    assert sum(outcome == "sent" for outcomes in results for outcome in outcomes) == 10
    assert sorted(r.json()["n"] for r in receiver.requests) == list(range(10))
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxMessage.Status.SENT}


@pytest.mark.django_db
def test_awaria_intake_is_not_slowed_by_a_hanging_slack_and_the_red_alert_follows(demo, api, receiver, settings, django_capture_on_commit_callbacks):  # noqa: F811
    settings.NOTIFICATIONS_HTTP_TIMEOUT = (1.0, 3.0)  # were the send in the request, it would cost 3 s
    Channel.objects.filter(name="Slack #sales-alerts").update(url=receiver.url(SECRET_PATH))
    receiver.hang(10)
    lead = {"email": "serwis@zaklad.example", "first_name": "Piotr", "company": "Zakład", "message": "Awaria linii produkcyjnej!"}

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/leads/", lead, content_type="application/json")
    elapsed = time.monotonic() - started

    assert response.status_code == 201, response.content
    assert elapsed < 1.5
    assert receiver.requests == []
    alert = OutboxMessage.objects.get(lead_id=response.json()["id"], channel__name="Slack #sales-alerts")
    assert OrmQ.objects.filter(key__isnull=False).exists()

    receiver.respond(200)  # the worker's turn: Slack answers now
    assert outbox_send(alert.pk) == "sent"
    body = receiver.answered[0].json()
    assert body["attachments"][0]["color"] == "#D00000"
    assert "Zakład" in body["text"]
