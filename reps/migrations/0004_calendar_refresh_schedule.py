"""The django-q2 schedule refreshing the reps' out-of-office calendars (reps.ics), created idempotently like the
SLA sweep's: found by name and brought to the wanted state; stray duplicates removed. The constants are repeated
here on purpose: a migration must not change when application code does."""

from django.db import migrations
from django.utils import timezone

NAME = "Out-of-office calendars"
FUNC = "reps.ics.calendars_refresh_task"


def schedule_ensure(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    wanted = {"func": FUNC, "schedule_type": "I", "minutes": 15, "repeats": -1, "cron": None, "args": None, "kwargs": None}
    existing = list(Schedule.objects.filter(name=NAME).order_by("id"))
    if not existing:
        Schedule.objects.create(name=NAME, next_run=timezone.now(), **wanted)
        return
    keep, *duplicates = existing
    for field, value in wanted.items():
        setattr(keep, field, value)
    keep.save()
    Schedule.objects.filter(pk__in=[s.pk for s in duplicates]).delete()


def schedule_remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("reps", "0003_rep_day"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]

    operations = [migrations.RunPython(schedule_ensure, schedule_remove)]
