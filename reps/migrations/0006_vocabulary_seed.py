"""The vocabularies every installation starts with (reps.vocabulary_seed): the 16 voivodeships with their spellings,
a few industries with synonyms. The seed lives in one place, app code, and only adds what is missing, so running a
newer seed in this migration on a fresh database is harmless; removing it removes nothing (a manager's edits stay)."""

from django.db import migrations


def seed(apps, schema_editor):
    from reps.vocabulary_seed import vocabulary_seed

    vocabulary_seed(term_model=apps.get_model("reps", "VocabularyTerm"), spelling_model=apps.get_model("reps", "VocabularySpelling"))


class Migration(migrations.Migration):
    dependencies = [("reps", "0005_vocabularies_and_builtin_domains")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
