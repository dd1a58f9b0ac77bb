"""A GiST index on each postal range's span, on PostgreSQL: "which ranges hold code X" is then an index lookup
whatever the number of ranges (the B-tree on (start, end) bounds only `start`, so with 30 000 ranges a lookup read
half of them). SQLite keeps the B-tree; its query is the plain comparison (reps.selectors.postal_holds_sql)."""

from django.db import migrations

INDEX = "reps_postalrange_span"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {INDEX} ON reps_postalrange USING gist (int4range("start", "end", \'[]\'))')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("reps", "0008_rep_notify_preferences")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
