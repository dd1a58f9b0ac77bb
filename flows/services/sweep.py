"""The SLA sweep across apps: sla fires the due escalation steps of each lead, notifications tells the people.

One lead is one transaction: its steps, events, reassignment, outbox rows and the task that sends them commit
together or not at all, so a notification is never queued for a step that did not fire (and the other way round).

What a sweep costs follows the number of due leads, never of open ones (tests/test_sweep_queries.py): the due
leads are read in one query on the partial index `lead_sla_next_step`, then each due lead takes a bounded number of
statements and one commit. The cached configuration (policies, channels, ...) is checked once per
`SNAPSHOT_SECONDS` of sweeping, not once per lead (`routing.config_version`).
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
from routing.config_version import config_snapshot
from sla.services import lead_steps_fire, leads_due_ids

logger = logging.getLogger(__name__)

# How long one reading of the configuration versions serves the sweep: an edit made meanwhile (a channel, a policy)
# is seen at most this much later, and a sweep over a backlog asks for the versions once a second, not twice a lead.
SNAPSHOT_SECONDS = 1.0


def _in_snapshots(lead_ids: list[int]) -> Iterator[int]:
    """The ids, each handled inside a configuration snapshot that is renewed every SNAPSHOT_SECONDS."""
    with ExitStack() as stack:
        started = None
        for lead_id in lead_ids:
            if started is None or time.monotonic() - started >= SNAPSHOT_SECONDS:
                stack.close()
                stack.enter_context(config_snapshot())
                started = time.monotonic()
            yield lead_id


def sla_tick(*, now: datetime) -> int:
    """One sweep as of `now`: fire every escalation step that is due and tell whom it concerns; returns how many
    notices went out (one per fired step, one per team lead alerted).

    Each lead is handled in its own transaction with its row locked (`SKIP LOCKED` on PostgreSQL: a lead being
    handled by another sweep is left to it), so one broken lead does not hold up the others. Running the sweep
    twice for the same moment changes nothing the second time.
    """
    policies: dict = {}
    fired = 0
    for lead_id in _in_snapshots(leads_due_ids(now=now)):
        with lead_log_context(lead_id):
            try:
                with transaction.atomic():
                    notices = lead_steps_fire(lead_id=lead_id, now=now, policies=policies)
                    for notice in notices:
                        if notice.kind == "reassigned":  # a new owner: told like after every assignment
                            owner_notify(lead=notice.event.lead, event=notice.event, reason=OwnerReason.SLA, channel=notice.channel)
                        else:
                            escalation_notify(lead=notice.event.lead, kind=notice.kind, rep=notice.rep, channel=notice.channel, event=notice.event)
                    outbox_hand_over_now()  # last: the ORM broker's task row commits with the lead, no commit of its own
                fired += len(notices)
            except Exception:
                # Left due: the next sweep tries again, and the failure stays visible in the log.
                logger.exception("SLA sweep: lead %s failed", lead_id)
    if fired:
        logger.info("SLA sweep at %s: %d step(s) fired", now.isoformat(), fired)
    return fired
