# Rule table versions: the live table, drafts, archived versions. Existing rules join the live table, each with
# its own lineage (a UUID the same rule keeps in every copy of the table).

import uuid

import django.db.models.deletion
import django.db.models.manager
from django.conf import settings
from django.db import migrations, models

import routing.models


def live_table_attach(apps, schema_editor):
    RuleTable = apps.get_model("routing", "RuleTable")
    Rule = apps.get_model("routing", "Rule")
    live = RuleTable.objects.filter(status="live").first() or RuleTable.objects.create(status="live", name="")
    # A per-row UUID: an AddField default is evaluated once, so every row would share one value.
    for rule in Rule.objects.filter(lineage__isnull=True).only("pk"):
        Rule.objects.filter(pk=rule.pk).update(lineage=uuid.uuid4())
    Rule.objects.filter(table__isnull=True).update(table=live)


class Migration(migrations.Migration):
    dependencies = [
        ("reps", "0001_initial"),
        ("routing", "0002_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RuleTable",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[("live", "Live"), ("draft", "Draft"), ("archived", "Archived")], db_index=True, max_length=8, verbose_name="status"
                    ),
                ),
                ("name", models.CharField(blank=True, max_length=150, verbose_name="name")),
                ("note", models.TextField(blank=True, help_text="What this change is for, in a sentence", verbose_name="note")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                ("published_at", models.DateTimeField(blank=True, null=True, verbose_name="published")),
                ("archived_at", models.DateTimeField(blank=True, null=True, verbose_name="archived")),
                (
                    "based_on",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="routing.ruletable",
                        verbose_name="copied from",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by",
                    ),
                ),
                (
                    "published_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="published by",
                    ),
                ),
            ],
            options={
                "verbose_name": "rule table version",
                "verbose_name_plural": "rule table versions",
                "ordering": ["-published_at", "-id"],
            },
        ),
        migrations.AddField(
            model_name="rule",
            name="lineage",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="rule",
            name="table",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="rules", to="routing.ruletable"),
        ),
        migrations.RunPython(live_table_attach, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="rule",
            name="lineage",
            field=models.UUIDField(
                default=uuid.uuid4,
                editable=False,
                help_text="The same rule in every version of the table carries the same value",
                verbose_name="lineage",
            ),
        ),
        # Not null first, the default second: a callable default on the first step would run the ORM mid-migration.
        migrations.AlterField(
            model_name="rule",
            name="table",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="rules", to="routing.ruletable", verbose_name="table version"),
        ),
        migrations.AlterField(
            model_name="rule",
            name="table",
            field=models.ForeignKey(
                default=routing.models.rule_table_live_id,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rules",
                to="routing.ruletable",
                verbose_name="table version",
            ),
        ),
        migrations.AddField(
            model_name="rulechange",
            name="table",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="changes", to="routing.ruletable"),
        ),
        migrations.AlterModelOptions(
            name="rule",
            options={"base_manager_name": "all_tables", "ordering": ["position", "id"], "verbose_name": "rule", "verbose_name_plural": "rules"},
        ),
        migrations.AlterModelManagers(
            name="rule",
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("all_tables", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="DraftRule",
            fields=[],
            options={
                "verbose_name": "draft rule",
                "verbose_name_plural": "draft rules",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("routing.rule",),
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("all_tables", django.db.models.manager.Manager()),
            ],
        ),
        migrations.AddConstraint(
            model_name="rule",
            constraint=models.UniqueConstraint(fields=("table", "lineage"), name="rule_lineage_once_per_table"),
        ),
        migrations.AddConstraint(
            model_name="ruletable",
            constraint=models.UniqueConstraint(condition=models.Q(("status", "live")), fields=("status",), name="one_live_rule_table"),
        ),
        migrations.AddConstraint(
            model_name="ruletable",
            constraint=models.UniqueConstraint(condition=models.Q(("status", "draft")), fields=("status",), name="one_draft_rule_table"),
        ),
    ]
