"""`python manage.py import_csv KIND FILE [--dry-run]`: the admin's CSV import, from a terminal.

All or nothing: when any row has a problem, every problem is printed with its spreadsheet line number
(the header is line 1), nothing is saved and the command exits with status 1.
"""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from reps.csv_files import CsvFileError, csv_dataset_read
from reps.resources import RESOURCES, import_result_lines


class Command(BaseCommand):
    help = "Import territories, reps, accounts or domains from a CSV file (UTF-8 or Windows-1250, `;` or `,`)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("kind", choices=sorted(RESOURCES), help="What the file holds.")
        parser.add_argument("file", help="The CSV file; its first line names the columns.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and report what would change; save nothing.")

    def handle(self, *, kind: str, file: str, dry_run: bool, verbosity: int, **options: Any) -> None:
        path = Path(file)
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise CommandError(_("Cannot read %(file)s: %(error)s") % {"file": file, "error": e.strerror or e}) from e
        try:
            dataset = csv_dataset_read(raw)
        except CsvFileError as e:
            raise CommandError(_("%(file)s: %(error)s") % {"file": file, "error": e}) from e

        resource = RESOURCES[kind](diff=False)
        result = resource.import_data(dataset, dry_run=dry_run, raise_errors=False)

        if result.has_errors() or result.has_validation_errors():
            for line in import_result_lines(result):
                self.stderr.write(line)
            if verbosity >= 3:
                for error in result.base_errors:
                    self.stderr.write(error.traceback)
            bad_rows = len(result.invalid_rows) + len(result.error_rows)
            if bad_rows:
                message = _("Nothing was imported: %(count)d row(s) of %(file)s have problems (listed above).")
            else:
                message = _("Nothing was imported from %(file)s (see above).")
            raise CommandError(message % {"count": bad_rows, "file": file})

        totals = result.totals
        summary = _("%(kind)s: %(new)d new, %(updated)d updated, %(unchanged)d unchanged.") % {
            "kind": kind.capitalize(),
            "new": totals.get("new", 0),
            "updated": totals.get("update", 0),
            "unchanged": totals.get("skip", 0) - sum(1 for p in resource.planned.values() if p.blank),
        }
        new_lists = getattr(resource, "new_lists", None)
        if new_lists:
            summary += " " + _("New domain lists (kind: custom): %(names)s.") % {"names": ", ".join(sorted(dl.name for dl in new_lists.values()))}
        new_pools = getattr(resource, "new_pools", None)
        if new_pools:
            summary += " " + _("New pools: %(names)s.") % {"names": ", ".join(sorted(p.name for p in new_pools.values()))}
        if dry_run:
            summary += " " + _("Dry run: nothing was saved.")
        self.stdout.write(summary)
