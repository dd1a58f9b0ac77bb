"""The weekly SLA digest's django-q2 schedule (flows.digest), created idempotently like the SLA sweep's (0001).

A cron schedule every quarter of an hour on weekdays: the task itself waits for the business calendar's first
opening of the week (TechPol: Monday 08:00 Europe/Warsaw) and queues the digest once per ISO week. Found by
name and brought to the wanted state, so migrating again never leaves two schedules; stray duplicates are
removed. The constants are repeated here on purpose: a migration must not change when application code does.
"""

from datetime import datetime

from django.db import migrations
from django.utils import timezone

NAME = "Weekly SLA digest"
FUNC = "flows.tasks.weekly_digest_task"
CRON = "*/15 * * * 1-5"


def _next_run():
    try:
        from croniter import croniter
    except ImportError:  # django-q2 needs croniter for cron schedules; requirements.txt pins it
        return timezone.now()
    return croniter(CRON, timezone.localtime()).get_next(datetime)


def schedule_ensure(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    wanted = {"func": FUNC, "schedule_type": "C", "cron": CRON, "repeats": -1, "minutes": None, "args": None, "kwargs": None}
    existing = list(Schedule.objects.filter(name=NAME).order_by("id"))
    if not existing:
        Schedule.objects.create(name=NAME, next_run=_next_run(), **wanted)
        return
    keep, *duplicates = existing
    for field, value in wanted.items():
        setattr(keep, field, value)
    keep.save()
    Schedule.objects.filter(pk__in=[s.pk for s in duplicates]).delete()


def schedule_remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0001_sla_tick_schedule"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_ensure, schedule_remove)]
