"""django-q2 tasks that span apps. The SLA sweep's every-minute schedule is created by migration sla 0002 and
pointed here by flows 0001."""

from django.utils import timezone

from flows.services.sweep import sla_tick

SCHEDULE_NAME = "SLA sweep"
SCHEDULE_FUNC = "flows.tasks.sla_tick_task"


def sla_tick_task() -> int:
    """One SLA sweep as of the real now (the every-minute schedule calls this)."""
    return sla_tick(now=timezone.now())
