"""`python manage.py export_csv KIND FILE`: the columns import_csv reads (UTF-8 with BOM, `,`, lists with `;`)."""

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from reps.csv_files import csv_dataset_write
from reps.resources import RESOURCES


class Command(BaseCommand):
    help = "Export territories, reps, accounts or domains to a CSV file that import_csv reads back unchanged."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("kind", choices=sorted(RESOURCES))
        parser.add_argument("file", help='Where to write; "-" for standard output.')

    def handle(self, *, kind: str, file: str, **options: Any) -> None:
        dataset = RESOURCES[kind]().export()
        data = csv_dataset_write(dataset)
        if file == "-":
            sys.stdout.buffer.write(data)
            return
        try:
            with open(file, "wb") as out:
                out.write(data)
        except OSError as e:
            raise CommandError(_("Cannot write %(file)s: %(error)s") % {"file": file, "error": e.strerror or e}) from e
        self.stdout.write(_("%(kind)s: %(count)d rows written to %(file)s.") % {"kind": kind.capitalize(), "count": len(dataset), "file": file})
