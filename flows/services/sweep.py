"""The SLA sweep across apps: sla fires the due escalation steps, notifications tells the people.

The due leads are read in one query on the partial index `lead_sla_next_step` and fired in chunks of up to
`CHUNK_SIZE` leads, one transaction per chunk: `sla.services.leads_steps_fire` locks the chunk's leads (SKIP LOCKED
on PostgreSQL: a lead another sweep holds is left to it), decides their steps and stores firings and events in bulk;
then every notice is composed into the same transaction, its outbox rows and history lines held in a row batch
(`routing.batch`) and inserted one table at a time, and the chunk's messages go to the django-q2 broker in ONE
hand-over (`outbox_hand_over_now`: the ORM broker's task row commits with them). Steps, events, reassignments,
outbox rows and the task that sends them commit together or not at all, so a notification is never queued for a
step that did not fire (and the other way round). Running the sweep twice for the same moment changes nothing the
second time: a fired step is stored and the lead's next step moved past it.

What a sweep costs follows the number of chunks, never of open leads (tests/test_sweep_queries.py): a chunk of
reminders is a fixed number of statements and one commit, whether it holds 10 leads or 100. What stays per lead:
a lead with a reassignment due is left out of the chunk and fired after it commits, in its own transaction
(`sla.services.lead_steps_fire`): the roster locks pool rows, and one transaction holding the pools of many leads
could deadlock with another sweep or an intake; and a team-lead alert reads the team leads. The cached
configuration (policies, channels, ...) is checked once per `SNAPSHOT_SECONDS` of sweeping, between chunks
(`routing.config_version`).

One broken lead does not hold up the others: when a chunk fails (logged), it is rolled back whole and its leads are
fired one by one, each in its own transaction as `sla.services.lead_steps_fire` does it, so the broken one stays due
(and in the log, every sweep) while the rest fire.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime

from django.db import transaction

from core.logcontext import lead_log_context
from notifications.delivery import outbox_hand_over_now
from notifications.services import OwnerReason, escalation_notify, owner_notify
from routing.batch import rows_batched
from routing.config_version import config_snapshot
from sla.services import EscalationNotice, lead_steps_fire, leads_due_ids, leads_steps_fire

logger = logging.getLogger(__name__)

# How long one reading of the configuration versions serves the sweep: an edit made meanwhile (a channel, a policy)
# is seen at most this much later (plus one chunk), and a sweep over a backlog asks for the versions once a second.
SNAPSHOT_SECONDS = 1.0
# Leads fired in one transaction: their rows stay locked until it commits (another sweep skips them meanwhile), and
# a failure sends at most this many leads down the slow path, one by one.
CHUNK_SIZE = 100


def _in_snapshots(lead_ids: list[int]) -> Iterator[list[int]]:
    """The ids in chunks of CHUNK_SIZE, each handled inside a configuration snapshot renewed every SNAPSHOT_SECONDS."""
    with ExitStack() as stack:
        started = None
        for start in range(0, len(lead_ids), CHUNK_SIZE):
            if started is None or time.monotonic() - started >= SNAPSHOT_SECONDS:
                stack.close()
                stack.enter_context(config_snapshot())
                started = time.monotonic()
            yield lead_ids[start : start + CHUNK_SIZE]


def _notice_tell(notice: EscalationNotice) -> None:
    if notice.kind == "reassigned":  # a new owner: told like after every assignment
        owner_notify(lead=notice.event.lead, event=notice.event, reason=OwnerReason.SLA, channel=notice.channel)
    else:
        escalation_notify(lead=notice.event.lead, kind=notice.kind, rep=notice.rep, channel=notice.channel, event=notice.event)


def _chunk_fire(*, lead_ids: list[int], now: datetime, policies: dict) -> tuple[int, list[int]]:
    """The chunk's leads in one transaction, in bulk; returns the notices that went out and the leads left for
    `_lead_fire` (a reassignment due)."""
    with transaction.atomic():
        chunk = leads_steps_fire(lead_ids=lead_ids, now=now, policies=policies)
        notices = chunk.notices
        with rows_batched() as batch:
            # Every message of the sweep is keyed on an event just stored: none can be queued already, no query asks.
            batch.fresh_event_ids.update(notice.event.pk for notice in notices)
            for notice in notices:
                with lead_log_context(notice.event.lead_id):
                    _notice_tell(notice)
        outbox_hand_over_now()  # last: the ORM broker's task row commits with the chunk, no commit of its own
    return len(notices), chunk.reassigning


def _lead_fire(*, lead_id: int, now: datetime, policies: dict) -> int:
    """One lead in its own transaction, every row written at once; returns the notices that went out."""
    with transaction.atomic():
        notices = lead_steps_fire(lead_id=lead_id, now=now, policies=policies)
        for notice in notices:
            _notice_tell(notice)
        outbox_hand_over_now()
    return len(notices)


def sla_tick(*, now: datetime) -> int:
    """One sweep as of `now`: fire every escalation step that is due and tell whom it concerns; returns how many
    notices went out (one per fired step, one per team lead alerted).

    A chunk of due leads per transaction, their rows locked (`SKIP LOCKED` on PostgreSQL: a lead being handled by
    another sweep is left to it); a lead with a reassignment due in its own transaction after its chunk. A chunk that
    fails is handled again lead by lead, each in its own transaction, so one broken lead does not hold up the others. Running the sweep twice for the same moment changes nothing the
    second time.
    """
    policies: dict = {}
    fired = 0
    for chunk in _in_snapshots(leads_due_ids(now=now)):
        try:
            chunk_fired, one_by_one = _chunk_fire(lead_ids=chunk, now=now, policies=policies)
            fired += chunk_fired
        except Exception:
            logger.exception("SLA sweep: a chunk of %d lead(s) failed; its leads are tried one by one", len(chunk))
            one_by_one = chunk
        for lead_id in one_by_one:
            with lead_log_context(lead_id):
                try:
                    fired += _lead_fire(lead_id=lead_id, now=now, policies=policies)
                except Exception:
                    # Left due: the next sweep tries again, and the failure stays visible in the log.
                    logger.exception("SLA sweep: lead %s failed", lead_id)
    if fired:
        logger.info("SLA sweep at %s: %d step(s) fired", now.isoformat(), fired)
    return fired
