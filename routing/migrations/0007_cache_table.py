"""The database cache table (`django_cache` by default): the rate limit's counters live there.

Runs `createcachetable`, which creates the table of every database cache in CACHES (none when the cache is
Redis) and leaves an existing table alone.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("routing", "0006_lead_received_at_as_of_intake")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
