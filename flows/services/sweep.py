"""The SLA sweep across apps: sla fires the due escalation steps of each lead, notifications tells the people.

One lead is one transaction: its steps, events, reassignment and outbox rows commit together or not at all, so a
notification is never queued for a step that did not fire (and the other way round).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from core.logcontext import lead_log_context
from notifications.services import OwnerReason, escalation_notify, owner_notify
from sla.services import lead_steps_fire, leads_due_ids

logger = logging.getLogger(__name__)


def sla_tick(*, now: datetime) -> int:
    """One sweep as of `now`: fire every escalation step that is due and tell whom it concerns; returns how many
    notices went out (one per fired step, one per team lead alerted).

    Each lead is handled in its own transaction with its row locked (`SKIP LOCKED` on PostgreSQL: a lead being
    handled by another sweep is left to it), so one broken lead does not hold up the others. Running the sweep
    twice for the same moment changes nothing the second time.
    """
    policies: dict = {}
    fired = 0
    for lead_id in leads_due_ids(now=now):
        with lead_log_context(lead_id):
            try:
                with transaction.atomic():
                    notices = lead_steps_fire(lead_id=lead_id, now=now, policies=policies)
                    for notice in notices:
                        if notice.kind == "reassigned":  # a new owner: told like after every assignment
                            owner_notify(lead=notice.event.lead, event=notice.event, reason=OwnerReason.SLA, channel=notice.channel)
                        else:
                            escalation_notify(lead=notice.event.lead, kind=notice.kind, rep=notice.rep, channel=notice.channel, event=notice.event)
                fired += len(notices)
            except Exception:
                # Left due: the next sweep tries again, and the failure stays visible in the log.
                logger.exception("SLA sweep: lead %s failed", lead_id)
    if fired:
        logger.info("SLA sweep at %s: %d step(s) fired", now.isoformat(), fired)
    return fired
