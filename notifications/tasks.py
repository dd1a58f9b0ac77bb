"""django-q2 tasks of the outbox: send one message, and the every-minute sweep that retries and recovers.

A message is sent by whoever claims it: a conditional UPDATE moves it pending -> sending, and only the
worker whose UPDATE changed the row sends it. Two workers (an after-commit task and a sweep, or a task
delivered twice by the broker) therefore never send the same message twice.
"""

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from core.logcontext import lead_log_bind, lead_log_scope
from notifications.delivery import DeliveryError, channel_secrets, deliver, redact
from notifications.models import OutboxMessage
from notifications.selectors import outbox_due_ids

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.tasks.outbox_send"
Status = OutboxMessage.Status


def _setting_timedelta(name: str, default: timedelta) -> timedelta:
    value = getattr(settings, name, default)
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def retry_for() -> timedelta:
    """How long temporary failures are retried before the message is marked failed."""
    return _setting_timedelta("NOTIFICATIONS_RETRY_FOR", timedelta(hours=24))


def backoff_base() -> timedelta:
    return _setting_timedelta("NOTIFICATIONS_BACKOFF_BASE", timedelta(seconds=30))


def backoff_max() -> timedelta:
    return _setting_timedelta("NOTIFICATIONS_BACKOFF_MAX", timedelta(hours=1))


def stuck_after() -> timedelta:
    """A row still "sending" after this long lost its worker (killed, restarted); well above the task timeout."""
    return _setting_timedelta("NOTIFICATIONS_STUCK_AFTER", timedelta(minutes=10))


def enqueue_grace() -> timedelta:
    """How long the sweep leaves a fresh row to its after-commit task before sending it itself."""
    return _setting_timedelta("NOTIFICATIONS_ENQUEUE_GRACE", timedelta(minutes=1))


def sweep_lease() -> timedelta:
    """After the sweep hands a row to a worker, it waits this long before handing it out again."""
    return _setting_timedelta("NOTIFICATIONS_SWEEP_LEASE", timedelta(minutes=5))


def backoff(attempts: int, *, retry_after: int | None = None) -> timedelta:
    """30 s, 1 min, 2 min, 4 min ... capped at an hour, with jitter so a recovered receiver is not stampeded."""
    # Exponent and Retry-After are bounded before they reach timedelta: a receiver asking for 10**14 s
    # must not crash the task (the row would stay "sending" and be retried, and crash, forever).
    delay = min(backoff_base() * (2 ** min(max(attempts - 1, 0), 20)), backoff_max())
    delay *= random.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, timedelta(seconds=min(retry_after, backoff_max().total_seconds())))
    return min(delay, backoff_max())


def outbox_enqueue(*, message_ids: list[int]) -> None:
    """Hand messages to the django-q2 cluster. Called after commit: a failure here (broker down) is only
    logged, the sweep sends the messages later, and the request that wrote them is not affected."""
    for message_id in message_ids:
        try:
            async_task(SEND_TASK, message_id, task_name=f"outbox-{message_id}", group="outbox")
        except Exception:
            logger.exception("outbox %s: could not enqueue; the retry sweep will send it", message_id)


@lead_log_scope
def outbox_send(message_id: int) -> str:
    """Send one outbox message if it is still pending; returns what happened (sent / retry / failed / skipped)."""
    claimed_at = timezone.now()
    claimed = OutboxMessage.objects.filter(pk=message_id, status=Status.PENDING).update(
        status=Status.SENDING, claimed_at=claimed_at, attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"  # sent, failed, or another worker has it
    message = OutboxMessage.objects.select_related("channel").get(pk=message_id)
    lead_log_bind(message.lead_id)
    mine = OutboxMessage.objects.filter(pk=message_id, status=Status.SENDING, claimed_at=claimed_at)
    try:
        status_code = deliver(message)
    except DeliveryError as error:
        return _attempt_failed(message, mine, error)
    except Exception as error:  # a bug, not the receiver: keep the message, retry, and say what broke (redacted)
        logger.exception("outbox %s: unexpected error while sending", message_id)
        reason = redact(f"internal error: {type(error).__name__}: {error}", channel_secrets(message.channel))
        return _attempt_failed(message, mine, DeliveryError(reason, permanent=False))
    mine.update(status=Status.SENT, sent_at=timezone.now(), last_error="", last_status_code=status_code, next_attempt_at=None)
    logger.info("outbox %s: sent (attempt %s)", message_id, message.attempts)
    return "sent"


def _attempt_failed(message: OutboxMessage, mine, error: DeliveryError) -> str:
    now = timezone.now()
    retry_until = message.retry_until or now + retry_for()
    text = f"{now:%Y-%m-%d %H:%M:%S %Z}, attempt {message.attempts}: {error.reason}"[:2000]
    if error.permanent or now >= retry_until:
        if not error.permanent:
            text += " (retried for too long: given up)"
        mine.update(status=Status.FAILED, last_error=text, last_status_code=error.status_code, next_attempt_at=None, retry_until=retry_until)
        logger.warning("outbox %s: failed for good: %s", message.pk, text)
        return "failed"
    next_at = min(now + backoff(message.attempts, retry_after=error.retry_after), retry_until)
    mine.update(status=Status.PENDING, last_error=text, last_status_code=error.status_code, next_attempt_at=next_at, retry_until=retry_until)
    logger.warning("outbox %s: will retry at %s: %s", message.pk, next_at.isoformat(), text)
    return "retry"


def outbox_retry_due(now: datetime | None = None) -> int:
    """The every-minute sweep: hand due retries (and rows whose after-commit task never ran) to workers,
    and put rows stuck in "sending" by a dead worker back in the queue. Returns how many were handed out.

    Idempotent: a row handed out is leased for a few minutes (next_attempt_at moves on), so running the
    sweep twice for the same moment hands out nothing the second time; the claim in `outbox_send` makes a
    duplicate task harmless anyway.
    """
    now = now or timezone.now()
    recovered = OutboxMessage.objects.filter(status=Status.SENDING, claimed_at__lt=now - stuck_after()).update(
        status=Status.PENDING,
        next_attempt_at=now,
        last_error=f"{now:%Y-%m-%d %H:%M:%S %Z}: the worker stopped while sending; sending again",
    )
    if recovered:
        logger.warning("outbox: %s message(s) stuck in sending were put back in the queue", recovered)
    ids = outbox_due_ids(now=now, grace=enqueue_grace())
    if not ids:
        return 0
    OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING).update(next_attempt_at=now + sweep_lease())
    outbox_enqueue(message_ids=ids)
    return len(ids)
