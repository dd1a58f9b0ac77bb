"""`python manage.py export_routing FILE`: the whole routing setup as one JSON document (flows/routing_setup/)."""

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from flows.routing_setup import routing_config_export


class Command(BaseCommand):
    help = "Write the routing setup (rules, pools, territories, accounts, lists, SLA, calendars, channels without secrets) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help='Where to write; "-" for standard output.')

    def handle(self, *, file: str, **options: Any) -> None:
        text = json.dumps(routing_config_export(), ensure_ascii=False, indent=2) + "\n"
        if file == "-":
            sys.stdout.write(text)
            return
        try:
            with open(file, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as e:
            raise CommandError(_("Cannot write %(file)s: %(error)s") % {"file": file, "error": e.strerror or e}) from e
        self.stdout.write(_("Routing setup written to %(file)s.") % {"file": file})
