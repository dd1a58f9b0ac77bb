from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from routing.services.intake import intake_source_create


class Command(BaseCommand):
    help = "Create an intake source and print its API token (shown once, as the last line)."

    def add_arguments(self, parser):
        parser.add_argument("name", help='The source\'s name, e.g. "Website form" or "Zapier"')

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("The name must be 1 to 100 characters.")
        try:
            source, token = intake_source_create(name=name)
        except IntegrityError as exc:
            raise CommandError(f'An intake source named "{name}" already exists; revoke it in the admin or choose another name.') from exc
        self.stdout.write(f'Intake source "{source.name}" created. Its token is shown once; keep it safe:')
        self.stdout.write(token)
