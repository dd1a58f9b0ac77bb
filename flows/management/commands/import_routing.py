"""`python manage.py import_routing FILE [--dry-run]`: make this database's routing setup the document's.

The whole document is checked first; on any problem every problem is printed, nothing is written and the
command exits with status 1. Otherwise it is applied in one transaction (flows/routing_setup/ says how).
"""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from flows.routing_setup import RoutingConfigError, routing_config_import


class Command(BaseCommand):
    help = "Import a routing setup written by export_routing (checked whole first, applied atomically)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The JSON document.")
        parser.add_argument("--dry-run", action="store_true", help="Check and report what would change; write nothing.")

    def handle(self, *, file: str, dry_run: bool, **options: Any) -> None:
        try:
            document = json.loads(Path(file).read_bytes().decode("utf-8-sig"))
        except OSError as e:
            raise CommandError(_("Cannot read %(file)s: %(error)s") % {"file": file, "error": e.strerror or e}) from e
        except UnicodeDecodeError as e:
            raise CommandError(_("%(file)s is not UTF-8 text.") % {"file": file}) from e
        except RecursionError as e:
            raise CommandError(_("%(file)s is nested too deeply to be a routing setup.") % {"file": file}) from e
        except json.JSONDecodeError as e:
            raise CommandError(
                _("%(file)s is not valid JSON: %(error)s (line %(line)d, column %(column)d).")
                % {"file": file, "error": e.msg, "line": e.lineno, "column": e.colno}
            ) from e
        try:
            summary = routing_config_import(document=document, dry_run=dry_run)
        except RoutingConfigError as e:
            for problem in e.problems:
                self.stderr.write(problem)
            raise CommandError(_("Nothing was imported: %(count)d problem(s) in %(file)s (listed above).") % {"count": len(e.problems), "file": file}) from e
        for what, count in summary.items():
            self.stdout.write(f"{what}: {count}")
        self.stdout.write(_("Dry run: nothing was written.") if dry_run else _("Routing setup imported from %(file)s.") % {"file": file})
