"""django-q2 tasks that span apps. The SLA sweep's every-minute schedule is created by migration sla 0002 and
pointed here by flows 0001."""

from django.utils import timezone

from flows.services.sweep import sla_tick

SCHEDULE_NAME = "SLA sweep"
SCHEDULE_FUNC = "flows.tasks.sla_tick_task"


def sla_tick_task() -> int:
    """One SLA sweep as of the real now (the every-minute schedule calls this)."""
    return sla_tick(now=timezone.now())


DIGEST_SCHEDULE_NAME = "Weekly SLA digest"
DIGEST_SCHEDULE_FUNC = "flows.tasks.weekly_digest_task"


def weekly_digest_task() -> str:
    """Last week's SLA digest to the team leads, once the office has opened this week (the schedule created by
    flows 0002 runs this every quarter of an hour on weekdays; only the first run of the week queues anything)."""
    from flows.digest import digest_send

    result = digest_send(now=timezone.now())
    return f"{result.week}: {result.reason} ({result.queued} queued)"
