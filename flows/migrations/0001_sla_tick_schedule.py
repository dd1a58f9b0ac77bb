"""The every-minute django-q2 schedule of the SLA sweep, created idempotently, now at flows.tasks (the sweep spans
sla and notifications since the apps were layered; sla 0002 pointed it at sla.tasks).

Found by name and brought to the wanted state, so running the migrations again (or a deploy that re-creates
the schedule table's rows) never leaves two sweeps scheduled; stray duplicates with the same name are removed.
The constants are repeated here on purpose: a migration must not change when application code does.
"""

from django.db import migrations

NAME = "SLA sweep"
FUNC = "flows.tasks.sla_tick_task"


def schedule_ensure(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    wanted = {"func": FUNC, "schedule_type": "I", "minutes": 1, "repeats": -1, "args": None, "kwargs": None, "cron": None}
    existing = list(Schedule.objects.filter(name=NAME).order_by("id"))
    if not existing:
        Schedule.objects.create(name=NAME, **wanted)
        return
    keep, *duplicates = existing
    for field, value in wanted.items():
        setattr(keep, field, value)
    keep.save()
    Schedule.objects.filter(pk__in=[s.pk for s in duplicates]).delete()


def schedule_point_back(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(func="sla.tasks.sla_tick_task")


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0002_sla_tick_schedule"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_ensure, schedule_point_back)]
