"""django-q2 tasks of the outbox: send one message, and the every-minute sweep that retries and recovers.

A message is sent by whoever claims it: a conditional UPDATE moves it pending -> sending, and only the
worker whose UPDATE changed the row sends it. Two workers (an after-commit task and a sweep, or a task
delivered twice by the broker) therefore never send the same message twice.

Timings (retry window, backoff, recovery of stuck rows, the sweep's grace and lease) are the NOTIFICATIONS_*
settings in leadrouter/settings.py.
"""

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from core.logcontext import lead_log_bind, lead_log_scope
from notifications.delivery import DeliveryError, channel_secrets, deliver, redact
from notifications.models import OutboxMessage
from notifications.selectors import outbox_due_ids

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.tasks.outbox_send"
SEND_MANY_TASK = "notifications.tasks.outbox_send_many"
Status = OutboxMessage.Status


def backoff(attempts: int, *, retry_after: int | None = None) -> timedelta:
    """30 s, 1 min, 2 min, 4 min ... capped at an hour, with jitter so a recovered receiver is not stampeded
    (`NOTIFICATIONS_BACKOFF_BASE` / `_MAX` in leadrouter/settings.py)."""
    base, most = settings.NOTIFICATIONS_BACKOFF_BASE, settings.NOTIFICATIONS_BACKOFF_MAX
    # Exponent and Retry-After are bounded before they reach timedelta: a receiver asking for 10**14 s
    # must not crash the task (the row would stay "sending" and be retried, and crash, forever).
    delay = min(base * (2 ** min(max(attempts - 1, 0), 20)), most)
    delay *= random.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, timedelta(seconds=min(retry_after, most.total_seconds())))
    return min(delay, most)


def outbox_enqueue(*, message_ids: list[int], together: bool = False) -> None:
    """Hand messages to the django-q2 cluster. Called after commit: a failure here (broker down) is only
    logged, the sweep sends the messages later, and the request that wrote them is not affected.

    `together`: the messages of one transaction (one lead at intake) in ONE task (`outbox_send_many`); else one
    task per message (the retry sweep: a slow receiver holds up only its own message)."""
    if together and len(message_ids) > 1:
        try:
            async_task(SEND_MANY_TASK, list(message_ids), task_name=f"outbox-{message_ids[0]}-{message_ids[-1]}", group="outbox")
        except Exception:
            logger.exception("outbox %s: could not enqueue; the retry sweep will send them", message_ids)
        return
    for message_id in message_ids:
        try:
            async_task(SEND_TASK, message_id, task_name=f"outbox-{message_id}", group="outbox")
        except Exception:
            logger.exception("outbox %s: could not enqueue; the retry sweep will send it", message_id)


def outbox_send_many(message_ids: list[int]) -> list[str]:
    """Send the messages one transaction wrote (one task per lead at intake), each as `outbox_send` does: claimed
    first, so a task delivered twice sends nothing twice."""
    return [outbox_send(message_id) for message_id in message_ids]


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


def _attempt_failed(message: OutboxMessage, mine: QuerySet[OutboxMessage], error: DeliveryError) -> str:
    now = timezone.now()
    retry_until = message.retry_until or now + settings.NOTIFICATIONS_RETRY_FOR
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
    recovered = OutboxMessage.objects.filter(status=Status.SENDING, claimed_at__lt=now - settings.NOTIFICATIONS_STUCK_AFTER).update(
        status=Status.PENDING,
        next_attempt_at=now,
        last_error=f"{now:%Y-%m-%d %H:%M:%S %Z}: the worker stopped while sending; sending again",
    )
    if recovered:
        logger.warning("outbox: %s message(s) stuck in sending were put back in the queue", recovered)
    ids = outbox_due_ids(now=now, grace=settings.NOTIFICATIONS_ENQUEUE_GRACE)
    if not ids:
        return 0
    OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING).update(next_attempt_at=now + settings.NOTIFICATIONS_SWEEP_LEASE)
    outbox_enqueue(message_ids=ids)
    return len(ids)
