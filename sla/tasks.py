"""django-q2 tasks of the SLA app. The schedule (every minute) is created by migration sla 0002."""

from django.utils import timezone

from sla.services import sla_tick

SCHEDULE_NAME = "SLA sweep"
SCHEDULE_FUNC = "sla.tasks.sla_tick_task"


def sla_tick_task() -> int:
    """One SLA sweep as of the real now (the every-minute schedule calls this)."""
    return sla_tick(now=timezone.now())
